using BenchmarkDotNet.Attributes;
using OrcSharp.Sources;

namespace OrcSharp.Benchmarks;

/// <summary>
/// A cache hit of the source compiler: what `orcsharp run hello.c` pays for its source when the object is
/// already cached (the stamp read and one stat per header the compiler used; nothing is hashed).
/// </summary>
[MemoryDiagnoser]
public class SourceCacheBenchmarks
{
    string _source = "";
    CompilerSettings _settings = null!;

    [GlobalSetup]
    public void Setup()
    {
        string dir = Path.Combine(Path.GetTempPath(), "orcsharp-bench-cache");
        Directory.CreateDirectory(dir);
        _settings = CompilerSettings.FromEnvironment() with { CacheDirectory = Path.Combine(dir, "cache") };
        _source = Path.Combine(dir, "hello.c");
        if (!File.Exists(_source))
        {
            File.WriteAllText(_source, "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { puts(\"hello\"); return 0; }\n");
            File.SetLastWriteTimeUtc(_source, DateTime.UtcNow.AddMinutes(-1));
        }
        SourceCompiler.Compile(_source, _settings); // the miss, once
    }

    [Benchmark]
    public string CacheHit() => SourceCompiler.Compile(_source, _settings);
}
