using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>orcsharp run | executor | jitlink. User errors are one line on stderr and exit status 1.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        LauncherCheck.Begin();
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                LauncherCheck.EnsureFresh();
                Console.Out.Write(Usage);
                return args.Length == 0 ? 1 : 0;
            }
            return args[0] switch
            {
                "run" => RunCommand.Execute(RunOptions.Parse(args[1..])),
                "executor" => ExecutorCommand.Execute(args[1..]),
                _ => throw new LinkError($"unknown command '{args[0]}' (expected run, executor or jitlink)"),
            };
        }
        catch (LinkError e)
        {
            return Fail(e.Message);
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("ORCSHARP_DEBUG") is null)
        {
            return Fail($"internal error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")} (set ORCSHARP_DEBUG=1 for details)");
        }
    }

    public static int Fail(string message)
    {
        LauncherCheck.EnsureFresh();
        Console.Error.WriteLine($"orcsharp: error: {message}");
        return 1;
    }

    public const string Usage = """
        usage: orcsharp run [options] INPUT... [-- ARG...]
          INPUT          .o, .a, .so, or a C/C++ source (compiled with $CC / $CXX)
          -l NAME        link a shared library as the system linker would
          -L DIR         add a library search directory
          --entry SYM    entry point (default main)
          --noexec       link everything, run nothing
          --stats        phase timings and counters as JSON on stderr
          --oop          run in a child executor process (linking stays here)
          --connect H:P  run in the executor listening at H:P
          --target ARCH  x86_64 or aarch64: another architecture runs under qemu-user
          --no-backtrace a crash ends as it does natively, without the crash report
          --perf-map     write /tmp/perf-PID.map for perf (PID of the process running the code)
          --jitdump      write jit-PID.dump for perf inject --jit (under $JITDUMPDIR or ~/.debug/jit)
               orcsharp executor (--stdio | --listen 127.0.0.1:PORT)
               orcsharp jitlink ARGS...

        """;
}
