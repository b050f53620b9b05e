namespace OrcSharp.Sources;

/// <summary>
/// How sources are compiled: the compilers and flags (by default $CC / $CXX and $CFLAGS / $CXXFLAGS, else
/// cc / c++, or the Debian cross compilers "aarch64-linux-gnu-gcc" for a cross target), where compiled
/// objects are cached, and how many compilers may run at once.
/// </summary>
public sealed record CompilerSettings
{
    /// <summary>The C compiler driver.</summary>
    public required string CCompiler { get; init; }
    /// <summary>The C++ compiler driver.</summary>
    public required string CxxCompiler { get; init; }
    /// <summary>Flags for C sources, separated by spaces.</summary>
    public string CFlags { get; init; } = "";
    /// <summary>Flags for C++ sources, separated by spaces.</summary>
    public string CxxFlags { get; init; } = "";
    /// <summary>The cache folder (objects go in its objects/ folder).</summary>
    public required string CacheDirectory { get; init; }
    /// <summary>Compilers run at once when several sources need compiling.</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>The settings a compiler driver user expects: $CC, $CXX, $CFLAGS, $CXXFLAGS, and the cache in
    /// $ORCSHARP_CACHE, else $XDG_CACHE_HOME/orcsharp, else ~/.cache/orcsharp. <paramref name="crossPrefix"/>
    /// ("aarch64-linux-gnu-") picks the Debian cross compilers when $CC / $CXX are not set.</summary>
    public static CompilerSettings FromEnvironment(string? crossPrefix = null)
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        return new CompilerSettings
        {
            CCompiler = Env("CC") ?? (crossPrefix is not null ? crossPrefix + "gcc" : "cc"),
            CxxCompiler = Env("CXX") ?? (crossPrefix is not null ? crossPrefix + "g++" : "c++"),
            CFlags = Env("CFLAGS") ?? "",
            CxxFlags = Env("CXXFLAGS") ?? "",
            CacheDirectory = Env("ORCSHARP_CACHE") ?? (Env("XDG_CACHE_HOME") is { } x ? Path.Combine(x, "orcsharp")
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "orcsharp")),
        };
    }
}
