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
            // llvm-jitlink -oop-executor=PATH starts PATH with "filedescs=R,W" as its only argument.
            if (args[0].StartsWith("filedescs=", StringComparison.Ordinal) || args[0].StartsWith("listen=", StringComparison.Ordinal))
                return ExecutorCommand.Execute(args);
            return args[0] switch
            {
                "run" => RunCommand.Execute(RunOptions.Parse(args[1..])),
                "executor" => ExecutorCommand.Execute(args[1..]),
                "jitlink" when args.Length > 1 && args[1] is "-h" or "--help" or "-help" => Help(JitlinkUsage),
                "jitlink" => Jitlink.JitlinkCommand.Execute(Jitlink.JitlinkOptions.Parse(args[1..])),
                _ => throw new LinkError($"unknown command '{args[0]}' (expected run, executor or jitlink)"),
            };
        }
        catch (OrcSharpException e)
        {
            return Fail(e.Message);
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("ORCSHARP_DEBUG") is null)
        {
            return Fail($"internal error: {e.GetType().Name}: {e.Message} (set ORCSHARP_DEBUG=1 for details)");
        }
    }

    static int Help(string text)
    {
        LauncherCheck.EnsureFresh();
        Console.Out.Write(text);
        return 0;
    }

    /// <summary>Prints the one error line. The message is escaped again here (a no-op for a
    /// <see cref="LinkError"/>, which escapes itself) so that no text, whatever threw it, can split the line.</summary>
    public static int Fail(string message)
    {
        LauncherCheck.EnsureFresh();
        Console.Error.WriteLine($"orcsharp: error: {PrintableText.Escape(message)}");
        return 1;
    }

    public const string Usage = """
        usage: orcsharp run [options] INPUT... [-- ARG...]
          INPUT          .o, .a, .so, or a C/C++ source (compiled with $CC / $CXX);
                         - reads standard input; pipes and <(...) work too
          -x LANG        c, c++ or none: the language of the sources after it (needed from a pipe)
          -l NAME        link a shared library as the system linker would
          -L DIR         add a library search directory
          --entry SYM    entry point (default main)
          --noexec       link everything, run nothing
          --stats        phase timings and counters as JSON on stderr
          --show-addrs   the final address of every symbol, section, GOT entry and stub, on stderr
          --show-graph   every section, block, symbol and edge of the link after fixups, on stderr
          --oop          run in a child executor process (linking stays here)
          --connect ADDR run in the executor listening at HOST:PORT or unix:PATH
          --token-file F the executor's token for --connect over TCP (or ORCSHARP_EXECUTOR_TOKEN)
          --target ARCH  x86_64 or aarch64: another architecture runs under qemu-user
          --no-backtrace a crash ends as it does natively, without the crash report
          --perf-map     write /tmp/perf-PID.map for perf (PID of the process running the code)
          --jitdump      write jit-PID.dump for perf inject --jit (under $JITDUMPDIR or ~/.debug/jit)
               orcsharp executor (--stdio | --listen [HOST:]PORT | --listen unix:PATH) [--allow-remote]
                                 (LLVM's forms too: orcsharp [executor] filedescs=R,W | listen=HOST:PORT)
                                 [--token-file FILE | --insecure-no-auth] [--max-message-size N[K|M|G]]
                                 [--max-calls-in-flight N] [--handshake-timeout SECONDS]
               orcsharp jitlink [llvm-jitlink options] INPUT... [-args ARG...]   (orcsharp jitlink --help)

        """;

    public const string JitlinkUsage = """
        usage: orcsharp jitlink [options] INPUT... [-args ARG...]
        llvm-jitlink's command line (LLVM 19), with LLVM JITLink's behaviour (dead-stripping, stubs):
          -noexec                 link, check and print, run nothing (exit status 0 on success)
          -entry=SYM              entry point (default main); run as main(argc, argv) with argv = the -args
          -check=FILE             evaluate the '# jitlink-check:' lines of FILE (exit status 1 if any fails)
          -check-name=NAME        use '# NAME:' lines instead
          -abs NAME=ADDR          define NAME at address ADDR
          -phony-externals        resolve undefined names to 0
          -l NAME, -L DIR         libraries and library directories; -preload PATH loads a shared library
          -no-process-syms        do not resolve names in the C library
          -slab-allocate SIZE     memory from one slab of SIZE (Kb, Mb, Gb)
          -slab-address ADDR      place the slab at ADDR (with -noexec: the address need not be mapped)
          -slab-page-size N       page size for -noexec layout
          -show-addrs             print the final address of every symbol, section, GOT entry and stub
          -show-graphs=REGEX      print the link graphs whose name matches, after fixups
          -show-times             print phase times on stderr
          -oop-executor[=PATH]    run in a child executor (orcsharp executor --stdio)
          -oop-executor-connect=HOST:PORT  run in the executor listening there
          -sectcreate SECT,FILE[@SYM=OFF,...]  a read-only section holding FILE, with symbols
          -args ARG...            the program's arguments (argv[0] is the first)

        """;
}
