using System.Globalization;
using OrcSharp.Shared;

namespace OrcSharp.Cli.Jitlink;

/// <summary>
/// The command line of `orcsharp jitlink`, which is llvm-jitlink's (LLVM 19): options start with one or
/// two dashes and take their value after '=' or as the next argument; -l and -L also take it attached;
/// -args ends the options (everything after it is the program's argv). Options llvm-jitlink has that
/// OrcSharp does not implement are refused with one line each, as are unknown ones.
/// </summary>
public sealed class JitlinkOptions
{
    public List<string> Inputs { get; } = new();
    public List<string> Libraries { get; } = new();
    public List<string> LibraryDirs { get; } = new();
    public List<string> Preload { get; } = new();
    /// <summary>-sectcreate SECTION,FILE[@SYM=OFFSET,...] specifications.</summary>
    public List<string> SectCreates { get; } = new();
    public List<string> CheckFiles { get; } = new();
    public string CheckName { get; private set; } = "jitlink-check";
    public string? Entry { get; private set; }
    public bool NoExec { get; private set; }
    public bool PhonyExternals { get; private set; }
    public bool NoProcessSymbols { get; private set; }
    public List<(string Name, ExecutorAddr Address)> Absolutes { get; } = new();
    public List<string> ProgramArgs { get; } = new();
    public bool ShowAddrs { get; private set; }
    /// <summary>-show-graphs=REGEX: graphs whose name matches are printed after fixups.</summary>
    public string? ShowGraphs { get; private set; }
    public bool ShowTimes { get; private set; }
    public ulong? SlabSize { get; private set; }
    public ExecutorAddr? SlabAddress { get; private set; }
    public uint SlabPageSize { get; private set; }
    /// <summary>-oop-executor given; its value (the executor to start) may be empty.</summary>
    public string? OopExecutor { get; private set; }
    public string? OopConnect { get; private set; }
    /// <summary>Lines llvm-jitlink prints as warnings for odd but accepted combinations.</summary>
    public List<string> Warnings { get; } = new();

    /// <summary>Options of llvm-jitlink that are accepted and have no effect here, with why.</summary>
    static readonly Dictionary<string, string> Ignored = new(StringComparer.Ordinal)
    {
        ["debugger-support"] = "bool",          // GDB registration belongs to the platform when it has it
        ["show-err-failed-to-materialize"] = "bool",
        ["search-sys-lib"] = "bool",            // the system's library directories are always searched
    };

    /// <summary>Options of llvm-jitlink 19 that OrcSharp does not implement.</summary>
    static readonly HashSet<string> NotImplemented = new(StringComparer.Ordinal)
    {
        "hidden-l", "load_hidden", "jd", "alias", "harness", "show-init-es", "show-entry-es",
        "show-relocated-section-contents", "orc-runtime", "add-self-relocations", "use-shared-memory",
        "perf-support", "vtune-support",
    };

    public static JitlinkOptions Parse(string[] args)
    {
        var o = new JitlinkOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith('-') || a == "-") { o.Inputs.Add(a); continue; }
            string body = a.StartsWith("--", StringComparison.Ordinal) ? a[2..] : a[1..];
            int eq = body.IndexOf('=');
            string name = eq < 0 ? body : body[..eq];
            string? inline = eq < 0 ? null : body[(eq + 1)..];
            string Value()
            {
                if (inline is not null) return inline;
                if (i + 1 >= args.Length) throw new LinkError($"jitlink: option -{name} needs a value");
                return args[++i];
            }
            bool Flag() => inline is null ? true : ParseBool(name, inline);

            // -lNAME and -LDIR: prefix options.
            if (name.Length > 1 && name[0] is 'l' or 'L' && !IsKnown(name))
            {
                (name[0] == 'l' ? o.Libraries : o.LibraryDirs).Add(body[1..]);
                continue;
            }
            switch (name)
            {
                case "l": o.Libraries.Add(Value()); break;
                case "L": o.LibraryDirs.Add(Value()); break;
                case "noexec": o.NoExec = Flag(); break;
                case "check": o.CheckFiles.Add(Value()); break;
                case "check-name": o.CheckName = Value(); break;
                case "entry": o.Entry = Value(); break;
                case "preload": o.Preload.Add(Value()); break;
                case "sectcreate": o.SectCreates.Add(Value()); break;
                case "no-process-syms": o.NoProcessSymbols = Flag(); break;
                case "phony-externals": o.PhonyExternals = Flag(); break;
                case "abs": o.Absolutes.Add(ParseAbsolute(Value())); break;
                case "show-addrs": o.ShowAddrs = Flag(); break;
                case "show-graphs": o.ShowGraphs = Value(); break;
                case "show-times": o.ShowTimes = Flag(); break;
                case "slab-allocate": o.SlabSize = ParseSlabSize(Value()); break;
                case "slab-address": o.SlabAddress = new ExecutorAddr(ParseNumber("-slab-address", Value())); break;
                case "slab-page-size": o.SlabPageSize = checked((uint)ParseNumber("-slab-page-size", Value())); break;
                case "oop-executor": o.OopExecutor = inline ?? ""; break;
                case "oop-executor-connect": o.OopConnect = Value(); break;
                case "args":
                    if (inline is not null) o.ProgramArgs.Add(inline);
                    for (int j = i + 1; j < args.Length; j++) o.ProgramArgs.Add(args[j]);
                    i = args.Length;
                    break;
                default:
                    if (Ignored.TryGetValue(name, out string? kind)) { if (kind == "bool") Flag(); else Value(); break; }
                    if (NotImplemented.Contains(name)) throw new LinkError($"jitlink: option -{name} of llvm-jitlink is not supported by orcsharp");
                    throw new LinkError($"jitlink: unknown option '{a}'");
            }
        }
        o.Validate();
        return o;
    }

    static bool IsKnown(string name) => name is "load_hidden" || Ignored.ContainsKey(name) || NotImplemented.Contains(name);

    /// <summary>llvm-jitlink's checks of option combinations (sanitizeArguments).</summary>
    void Validate()
    {
        if (Inputs.Count == 0) throw new LinkError("jitlink: no input files");
        if (NoExec && ProgramArgs.Count > 0) Warnings.Add("Warning: --args passed to -noexec run will be ignored.");
        if (SlabSize is not null && (OopExecutor is not null || OopConnect is not null))
            throw new LinkError("jitlink: -slab-allocate cannot be used with -oop-executor or -oop-executor-connect");
        if (SlabAddress is not null)
        {
            if (SlabSize is null || !NoExec) throw new LinkError("jitlink: -slab-address requires -slab-allocate and -noexec");
            if (SlabPageSize == 0) Warnings.Add("Warning: -slab-address used without -slab-page-size.");
        }
        if (SlabPageSize != 0)
        {
            if (SlabSize is null) throw new LinkError("jitlink: -slab-page-size requires -slab-allocate");
            if ((SlabPageSize & (SlabPageSize - 1)) != 0) throw new LinkError($"jitlink: -slab-page-size {SlabPageSize} is not a power of two");
            if (!NoExec && SlabPageSize % (uint)Environment.SystemPageSize != 0)
                throw new LinkError("jitlink: -slab-page-size must be a multiple of real page size for exec tests (did you mean to use -noexec ?)");
        }
        if (OopExecutor is not null && OopConnect is not null)
            throw new LinkError("jitlink: only one of -oop-executor and -oop-executor-connect can be specified");
    }

    static bool ParseBool(string name, string v) => v switch
    {
        "true" or "TRUE" or "True" or "1" => true,
        "false" or "FALSE" or "False" or "0" => false,
        _ => throw new LinkError($"jitlink: option -{name}: '{v}' is not true or false"),
    };

    /// <summary>NAME=ADDR, with ADDR in C notation (0x hex, 0 octal, decimal).</summary>
    static (string, ExecutorAddr) ParseAbsolute(string def)
    {
        int eq = def.IndexOf('=');
        if (eq < 0) throw new LinkError($"jitlink: invalid absolute define \"{def}\" (syntax: NAME=ADDR)");
        return (def[..eq].Trim(), new ExecutorAddr(ParseNumber($"absolute symbol definition \"{def}\"", def[(eq + 1)..].Trim())));
    }

    static ulong ParseNumber(string what, string s)
    {
        bool ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v)
            : s.Length > 1 && s[0] == '0' ? TryOctal(s, out v)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        if (!ok) throw new LinkError($"jitlink: invalid number \"{s}\" in {what}");
        return v;
    }

    static bool TryOctal(string s, out ulong v)
    {
        v = 0;
        foreach (char c in s)
        {
            if (c is < '0' or > '7') return false;
            v = v * 8 + (ulong)(c - '0');
        }
        return true;
    }

    /// <summary>-slab-allocate SIZE: a decimal count of Kb (the default unit), Mb or Gb.</summary>
    static ulong ParseSlabSize(string s)
    {
        string t = s.Trim();
        ulong unit = 1024;
        if (t.EndsWith("kb", StringComparison.OrdinalIgnoreCase)) t = t[..^2].TrimEnd();
        else if (t.EndsWith("mb", StringComparison.OrdinalIgnoreCase)) { unit = 1UL << 20; t = t[..^2].TrimEnd(); }
        else if (t.EndsWith("gb", StringComparison.OrdinalIgnoreCase)) { unit = 1UL << 30; t = t[..^2].TrimEnd(); }
        if (!ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n == 0)
            throw new LinkError($"jitlink: invalid slab size \"{s}\" (e.g. 100Kb, 16Mb)");
        return checked(n * unit);
    }
}
