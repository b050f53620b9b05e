using BenchmarkDotNet.Attributes;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Orc;

namespace OrcSharp.Benchmarks;

/// <summary>
/// Linking the sqlite driver into a child executor ("orcsharp executor --stdio", the CLI the launcher
/// builds): segment bytes through shared memory (a memfd the executor maps) against the same bytes copied
/// in the finalize message. Each operation links into a fresh JITDylib and removes it again.
/// </summary>
[MemoryDiagnoser]
public class RemoteLinkBenchmarks
{
    SimpleRemoteEPC _epc = null!;
    ExecutionSession _session = null!;
    List<(string Name, byte[] Bytes)> _objects = null!;

    [Params(true, false)]
    public bool SharedMemory { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        string work = Environment.GetEnvironmentVariable("ORCSHARP_BENCH_WORK")
            ?? throw new InvalidOperationException("set ORCSHARP_BENCH_WORK to the folder bench/perf.sh builds the workloads in");
        string orcsharp = Environment.GetEnvironmentVariable("ORCSHARP_BENCH_CLI")
            ?? throw new InvalidOperationException("set ORCSHARP_BENCH_CLI to the orcsharp binary (bench/perf.sh does)");
        _objects = [.. new[] { "sqlite-gcc.o", "driver.o" }.Select(n => (n, File.ReadAllBytes(Path.Combine(work, n))))];
        _epc = SimpleRemoteEPC.Spawn(orcsharp, ["executor", "--stdio"]);
        _epc.UseSharedMemory = SharedMemory;
        _session = new ExecutionSession(_epc);
        LinkToMain(); // libraries loaded once, as in a long-lived host
    }

    [Benchmark(Description = "sqlite objects in memory to main in a child executor, then removed")]
    public ulong LinkToMain()
    {
        var jd = _session.CreateJITDylib("bench");
        var loader = new InputLoader(jd, []);
        foreach (var (name, bytes) in _objects) jd.AddObject(name, bytes);
        loader.AddDefaultLibraries(cxx: false);
        jd.Link();
        ulong main = jd.Lookup("main")!.Value.Value;
        _session.RemoveJITDylib(jd);
        return main;
    }

    [GlobalCleanup]
    public void Cleanup() => _session.Dispose();
}
