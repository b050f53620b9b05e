// Getting started: compile a C file, call a function, run main. Pass "--oop ORCSHARP" to run the code in
// a child executor (the orcsharp command) instead of this process.
using OrcSharp;

var options = args is ["--oop", var executor] ? JitOptions.ChildProcess(executor) : JitOptions.InProcess;
await using var jit = await Jit.CreateAsync(options);
jit.AddSource(Path.Combine(AppContext.BaseDirectory, "add.c"));

Console.WriteLine($"add(2, 3) = {await jit.CallAsync("add", 2, 3)}");   // in process or out of process
if (jit.IsInProcess)
{
    var add = jit.GetFunction<Add>("add");                               // a delegate
    Console.WriteLine($"add(40, 2) = {add(40, 2)}");
    unsafe
    {
        var fast = (delegate* unmanaged<int, int, int>)jit.Lookup("add").ToPointer(); // a function pointer
        Console.WriteLine($"add(1, 1) = {fast(1, 1)}");
    }
}
Console.WriteLine($"main returned {await jit.RunMainAsync(["world"])}");

delegate int Add(int a, int b);
