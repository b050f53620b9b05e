using BenchmarkDotNet.Attributes;
using OrcSharp.Executor.InProcess;
using OrcSharp.Orc;

namespace OrcSharp.Benchmarks;

/// <summary>
/// Linking from bytes already in memory to a callable address, in this process: the sqlite amalgamation
/// with its driver (clang -O2 -fPIC and gcc -O2 builds), 1,000 small objects, and two objects that differ
/// only in their number of relocations (what a relocation costs in time and memory). Each operation links
/// into a fresh JITDylib and removes it again, so memory is returned and every iteration is alike.
/// </summary>
[MemoryDiagnoser]
public class LinkBenchmarks
{
    ExecutionSession _session = null!;
    Dictionary<string, List<(string Name, byte[] Bytes)>> _workloads = null!;

    [Params("sqlite-clang", "sqlite-gcc", "small-1000", "relocs-1000", "relocs-100000")]
    public string Workload { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        string work = Environment.GetEnvironmentVariable("ORCSHARP_BENCH_WORK")
            ?? throw new InvalidOperationException("set ORCSHARP_BENCH_WORK to the folder bench/perf.sh builds the workloads in");
        // Only this run's workload is read (a run filtered to sqlite needs no other workload built).
        _workloads = new()
        {
            [Workload] = Workload switch
            {
                "sqlite-clang" => Load(Path.Combine(work, "sqlite-clang.o"), Path.Combine(work, "driver.o")),
                "sqlite-gcc" => Load(Path.Combine(work, "sqlite-gcc.o"), Path.Combine(work, "driver.o")),
                "small-1000" => Load(Directory.GetFiles(Path.Combine(work, "small"), "*.o").Order(StringComparer.Ordinal).ToArray()),
                // One object with 1,000 or 100,000 R_X86_64_64 relocations and nothing else that differs.
                "relocs-1000" => Load(Path.Combine(work, "relocs-1000.o")),
                _ => Load(Path.Combine(work, "relocs-100000.o")),
            },
        };
        _session = new ExecutionSession(new InProcessExecutorControl());
        _jit = Jit.Create();
        LinkToMain(); // libraries loaded once, as in a long-lived host
        PublicApiLinkToMain();
    }

    Jit _jit = null!;

    /// <summary>The same work through the public entry point (issue 12's bar: within 10% of the figure above).</summary>
    [Benchmark(Description = "public API (Jit): objects in memory to main, then removed")]
    public ulong PublicApiLinkToMain()
    {
        var jd = _jit.CreateJITDylib("bench");
        foreach (var (name, bytes) in _workloads[Workload]) _jit.AddObject(name, bytes, jd);
        ulong main = _jit.Lookup("main", jd).Address.Value;
        _jit.RemoveJITDylib(jd);
        return main;
    }

    static List<(string, byte[])> Load(params string[] paths) => paths.Select(p => (p, File.ReadAllBytes(p))).ToList();

    [Benchmark(Description = "objects in memory to callable main, then removed")]
    public ulong LinkToMain()
    {
        var jd = _session.CreateJITDylib("bench");
        var loader = new InputLoader(jd, []);
        foreach (var (name, bytes) in _workloads[Workload]) jd.AddObject(name, bytes);
        loader.AddDefaultLibraries(cxx: false);
        jd.Link();
        ulong main = jd.Lookup("main")!.Value.Value;
        _session.RemoveJITDylib(jd);
        return main;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _jit.Dispose();
    }
}
