// Run main without exiting: main runs twice, its exit status comes back, the executor keeps serving;
// Deinitialize runs destructors and atexit handlers but keeps the code; disposing ends everything.
using OrcSharp;

var options = args is ["--oop", var executor] ? JitOptions.ChildProcess(executor) : JitOptions.InProcess;
await using (var jit = await Jit.CreateAsync(options))
{
    jit.AddSource(Path.Combine(AppContext.BaseDirectory, "program.c"));
    Console.WriteLine($"status {await jit.RunMainAsync(["a"], programName: "prog")}");
    Console.WriteLine($"status {await jit.RunMainAsync(["a", "b"], programName: "prog")}");
    jit.Deinitialize();
    Console.WriteLine("deinitialized");
    Console.WriteLine($"status {await jit.RunMainAsync([], programName: "prog")}");
    Console.WriteLine("disposing");
}
Console.WriteLine("host still running");
