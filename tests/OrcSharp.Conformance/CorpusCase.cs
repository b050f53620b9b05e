namespace OrcSharp.Conformance;

public enum Language { C, Cxx }

/// <summary>
/// One conformance program: "c/NAME.c" (one object) or "c/NAME/" (every source is one object), likewise
/// under "cpp/". A case directory's "plugin/" subfolder holds the sources of a shared library the program
/// opens with dlopen (<see cref="PluginSources"/>). The few cases that need more than the defaults are
/// named in <see cref="Special"/>, as the corpus README describes them.
/// </summary>
public sealed record CorpusCase(string Name, Language Language, IReadOnlyList<string> Sources, bool UsesThreadLocals)
{
    /// <summary>The environment variable that gives the program the path of its plugin.</summary>
    public const string PluginVariable = "CORPUS_PLUGIN";

    /// <summary>Sources of the case's plugin.so (empty when it has none): built with the row's compiler
    /// and flags, -fPIC, and linked -shared. The program is then linked natively with -rdynamic, so the
    /// plugin can bind to its definitions, and finds the plugin's path in <see cref="PluginVariable"/>.</summary>
    public IReadOnlyList<string> PluginSources { get; init; } = [];

    /// <summary>Case name (without the c/ or cpp/ prefix) → what it needs beyond the defaults.</summary>
    static readonly Dictionary<string, (string[] CFlags, string[] Libs, string[] Args, bool Archive)> Special = new()
    {
        ["archive"] = ([], [], [], true),
        ["weak_common"] = (["-fcommon"], [], [], false),
        ["libm"] = ([], ["m"], [], false),
        ["hello"] = ([], [], ["alpha", "beta gamma"], false),
        ["entry_layout"] = ([], [], ["one", "two words", ""], false),
    };

    string Short => Name[(Name.IndexOf('/') + 1)..];
    public IReadOnlyList<string> ExtraCompileFlags => Special.TryGetValue(Short, out var s) ? s.CFlags : [];
    public IReadOnlyList<string> Libraries => Special.TryGetValue(Short, out var s) ? s.Libs : [];
    public IReadOnlyList<string> Arguments => Special.TryGetValue(Short, out var s) ? s.Args : [];
    /// <summary>Every source but main.c goes into lib.a; the link is main.o lib.a.</summary>
    public bool IsArchive => Special.TryGetValue(Short, out var s) && s.Archive;

    public static List<CorpusCase> Discover(string corpusDir)
    {
        var cases = new List<CorpusCase>();
        foreach (var (sub, lang, exts) in new[] { ("c", Language.C, new[] { ".c" }), ("cpp", Language.Cxx, new[] { ".cpp", ".cc", ".cxx" }) })
        {
            string dir = Path.Combine(corpusDir, sub);
            if (!Directory.Exists(dir)) continue;
            foreach (var entry in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
            {
                List<string> Sources(string dir) =>
                    Directory.EnumerateFiles(dir).Where(f => exts.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal).ToList();
                List<string> sources, plugin = [];
                if (Directory.Exists(entry))
                {
                    sources = Sources(entry);
                    if (Directory.Exists(Path.Combine(entry, "plugin"))) plugin = Sources(Path.Combine(entry, "plugin"));
                }
                else if (exts.Contains(Path.GetExtension(entry))) sources = [entry];
                else continue;
                if (sources.Count == 0) continue;
                string name = $"{sub}/{Path.GetFileNameWithoutExtension(entry)}";
                bool tls = sources.Concat(Directory.Exists(entry) ? Directory.EnumerateFiles(entry, "*.h") : [])
                    .Any(f => File.ReadAllText(f) is var t && (t.Contains("_Thread_local") || t.Contains("__thread") || t.Contains("thread_local")));
                cases.Add(new CorpusCase(name, lang, sources, tls) { PluginSources = plugin });
            }
        }
        return cases;
    }

    public override string ToString() => Name;
}

/// <summary>One build of a case: compiler and flags.</summary>
public sealed record MatrixEntry(string Compiler, string Flags)
{
    public bool NoPie => Flags.Contains("-fno-pic") || (Flags.Contains("-ftls-model=initial-exec") && !Flags.Contains("-fPIC"));
    public override string ToString() => $"{Compiler} {Flags}";
}

/// <summary>The compiler × flags matrix of the corpus README.</summary>
public static class BuildMatrix
{
    static readonly string[] CFlags = ["-O0", "-O2", "-O2 -fPIC", "-O2 -fno-pic", "-O0 -fno-pic"];
    static readonly string[] CxxFlags = ["-O0", "-O2", "-O2 -fPIC"];
    static readonly string[] TlsFlags =
    [
        "-O2 -fPIC -ftls-model=global-dynamic", "-O2 -fPIC -ftls-model=local-dynamic",
        "-O2 -fPIC -ftls-model=initial-exec", "-O2 -ftls-model=initial-exec",
    ];

    static readonly string[] GnuDialectFlags = ["-O2 -fPIC -mtls-dialect=gnu2", "-O0 -fPIC -mtls-dialect=gnu2"];

    /// <summary>The matrix for another architecture (the Debian cross compilers and clang's --target):
    /// -O0 and -O2 as PIE, -O2 -fPIC, and -O2 -fno-pic and -O0 -fno-pic for C; thread-local cases also
    /// with initial-exec.</summary>
    public static List<MatrixEntry> ForCross(CorpusCase c, string arch)
    {
        string triple = $"{arch}-linux-gnu";
        var compilers = c.Language == Language.C
            ? new[] { ($"{triple}-gcc", ""), ("clang-14", $"--target={triple} ") }
            : new[] { ($"{triple}-g++", ""), ("clang++-14", $"--target={triple} ") };
        // As in the native matrix, -fno-pic is a C build only.
        var flags = new List<string> { "-O0", "-O2", "-O2 -fPIC" };
        if (c.Language == Language.C) flags.AddRange(["-O2 -fno-pic", "-O0 -fno-pic"]);
        if (c.UsesThreadLocals) flags.Add("-O2 -fPIC -ftls-model=initial-exec");
        return compilers.SelectMany(cc => flags.Select(f => new MatrixEntry(cc.Item1, cc.Item2 + f))).ToList();
    }

    public static List<MatrixEntry> For(CorpusCase c)
    {
        var compilers = c.Language == Language.C ? new[] { "gcc", "clang-14" } : new[] { "g++", "clang++-14" };
        var flags = (c.Language == Language.C ? CFlags : CxxFlags).AsEnumerable();
        if (c.UsesThreadLocals) flags = flags.Concat(TlsFlags);
        var entries = compilers.SelectMany(cc => flags.Select(f => new MatrixEntry(cc, f))).ToList();
        // The TLS descriptor dialect: gcc only (clang 14 has no -mtls-dialect on x86-64).
        if (c.UsesThreadLocals) entries.AddRange(GnuDialectFlags.Select(f => new MatrixEntry(compilers[0], f)));
        return entries;
    }
}
