// Host symbols: JIT'd C code calls a C# method and updates a counter the host owns.
using System.Runtime.InteropServices;
using OrcSharp;
using OrcSharp.Sources;

var options = args is ["--oop", var executor] ? JitOptions.ChildProcess(executor) : JitOptions.InProcess;
// Host data lies anywhere in this process: code reaches it through its GOT when compiled with -fPIC
// (PIE code, the compiler's default, assumes the data it refers to lies within 2 GiB).
options = options with { Compiler = CompilerSettings.FromEnvironment() with { CFlags = "-O2 -fPIC" } };
await using var jit = await Jit.CreateAsync(options);
if (!jit.IsInProcess)
{
    // Host addresses mean nothing in another process; calling back into C# from there needs a wrapper
    // call (LLVM's dispatch_fn path), which is not available yet.
    Console.WriteLine("host symbols need an in-process executor");
    return;
}
unsafe
{
    int* counter = (int*)NativeMemory.AllocZeroed(sizeof(int));
    jit.DefineHostSymbol("host_scale", (nint)(delegate* unmanaged<int, int>)&Host.Scale);
    jit.DefineHostSymbol("host_counter", (nint)counter);
    jit.AddSource(Path.Combine(AppContext.BaseDirectory, "uses_host.c"));
    var compute = (delegate* unmanaged<int, int>)jit.Lookup("compute").ToPointer();
    for (int i = 1; i <= 3; i++) Console.WriteLine($"compute({i}) = {compute(i)}");
    Console.WriteLine($"host_counter = {*counter}");
}

static class Host
{
    [UnmanagedCallersOnly]
    public static int Scale(int x)
    {
        Console.WriteLine($"  C# Scale({x}) called from JIT'd code");
        return x * 10;
    }
}
