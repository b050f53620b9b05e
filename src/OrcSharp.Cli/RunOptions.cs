using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>Options of "orcsharp run", parsed by hand so every mistake is one clear line.</summary>
public sealed class RunOptions
{
    public List<string> Inputs { get; } = new();
    /// <summary>The language each input was given with -x (gcc's rule: -x applies to the inputs after
    /// it, until the next -x; "none" goes back to telling by name and content); null when not given.</summary>
    public List<string?> InputLanguages { get; } = new();
    /// <summary>-l NAME in command-line order.</summary>
    public List<string> Libraries { get; } = new();
    public List<string> LibraryDirs { get; } = new();
    public List<string> ProgramArgs { get; } = new();
    public string Entry { get; set; } = "main";
    public bool NoExec { get; set; }
    public bool Stats { get; set; }
    /// <summary>--show-graph: every section, block, symbol and edge of the link at its final address, on stderr.</summary>
    public bool ShowGraph { get; set; }
    /// <summary>--show-addrs: the final address of every symbol, section, GOT entry and stub, on stderr.</summary>
    public bool ShowAddrs { get; set; }
    public bool OutOfProcess { get; set; }
    public string? Connect { get; set; }
    /// <summary>--oop-executor=PATH: a child executor started as llvm-jitlink starts one (PATH filedescs=R,W),
    /// such as LLVM's llvm-jitlink-executor; implies out of process.</summary>
    public string? OopExecutor { get; set; }
    /// <summary>The executor token for --connect over TCP (else ORCSHARP_EXECUTOR_TOKEN).</summary>
    public string? TokenFile { get; set; }
    /// <summary>The architecture the program runs on (--target); another than this machine's means a
    /// cross executor under qemu-user.</summary>
    public string? Target { get; set; }
    /// <summary>No crash report: a crashing program ends exactly as it does natively (same signal, nothing
    /// added on stderr).</summary>
    public bool NoBacktrace { get; set; }
    /// <summary>Write /tmp/perf-PID.map (PID of the process running the code).</summary>
    public bool PerfMap { get; set; }
    /// <summary>Write a jitdump file for perf inject --jit.</summary>
    public bool JitDump { get; set; }

    public static RunOptions Parse(string[] args)
    {
        var o = new RunOptions();
        string? language = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Value(string flag)
            {
                if (i + 1 >= args.Length) throw new LinkError($"option {flag} needs a value");
                return args[++i];
            }
            switch (a)
            {
                case "--":
                    for (int j = i + 1; j < args.Length; j++) o.ProgramArgs.Add(args[j]);
                    i = args.Length;
                    break;
                case "-l": o.Libraries.Add(Value(a)); break;
                case "-L": o.LibraryDirs.Add(Value(a)); break;
                case "--entry": o.Entry = Value(a); break;
                case "-x": language = Language(Value(a)); break;
                case "--noexec": o.NoExec = true; break;
                case "--stats": o.Stats = true; break;
                case "--show-graph": o.ShowGraph = true; break;
                case "--show-addrs": o.ShowAddrs = true; break;
                case "--oop": o.OutOfProcess = true; break;
                case "--connect": o.Connect = Value(a); break;
                case "--token-file": o.TokenFile = Value(a); break;
                case "--no-backtrace": o.NoBacktrace = true; break;
                case "--perf-map": o.PerfMap = true; break;
                case "--jitdump": o.JitDump = true; break;
                case "--target":
                    o.Target = Value(a) switch
                    {
                        "aarch64" or "arm64" or "aarch64-linux-gnu" => "aarch64",
                        "x86_64" or "x86-64" or "amd64" or "x86_64-linux-gnu" => "x86_64",
                        var t => throw new LinkError($"unknown target '{t}' (expected x86_64 or aarch64)"),
                    };
                    break;
                default:
                    if (a.StartsWith("-l", StringComparison.Ordinal) && a.Length > 2) o.Libraries.Add(a[2..]);
                    else if (a.StartsWith("-L", StringComparison.Ordinal) && a.Length > 2) o.LibraryDirs.Add(a[2..]);
                    else if (a.StartsWith("--entry=", StringComparison.Ordinal)) o.Entry = a[8..];
                    else if (a.StartsWith("--oop-executor=", StringComparison.Ordinal)) { o.OopExecutor = a["--oop-executor=".Length..]; o.OutOfProcess = true; }
                    else if (a.StartsWith("-x", StringComparison.Ordinal) && a.Length > 2) language = Language(a[2..]);
                    else if (a.StartsWith('-') && a != "-") throw new LinkError($"unknown option '{a}'");
                    else { o.Inputs.Add(a); o.InputLanguages.Add(language); }
                    break;
            }
        }
        if (o.Inputs.Count == 0) throw new LinkError("no input files");
        if (o.TokenFile is not null && o.Connect is null) throw new LinkError("--token-file goes with --connect");
        if (o.OopExecutor is not null && (o.Connect is not null || o.Target is not null)) throw new LinkError("--oop-executor excludes --connect and --target");
        if (o.OopExecutor is "") throw new LinkError("--oop-executor= needs the path of an executor");
        return o;
    }

    static string? Language(string name) => name switch
    {
        "c" => "c",
        "c++" or "cxx" or "cpp" => "c++",
        "none" => null,
        _ => throw new LinkError($"unknown language '{name}' for -x (expected c, c++ or none)"),
    };
}
