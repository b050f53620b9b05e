using System.Globalization;
using OrcSharp.Executor;
using OrcSharp.Executor.InProcess;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Orc;
using Xunit;
using Xunit.Abstractions;

namespace OrcSharp.Tests.Executor;

/// <summary>
/// A long-lived host links and removes a C++ object with exceptions and thread-locals over and over, in
/// process and out of process: the resident memory, mappings, descriptors and threads of the process that
/// runs the code stay flat. ORCSHARP_SOAK_CYCLES sets the number of cycles (default 1000); the figures are
/// printed every tenth of the run and compared between the first tenth (warmed up) and the end
/// (docs/reliability.md has a 10,000-cycle run). The figures are of whole processes, this test host
/// included, so no other test runs meanwhile.
/// </summary>
[Collection(nameof(LongLivedSessionTests))]
public class LongLivedSessionTests(ITestOutputHelper output)
{
    /// <summary>An initializer that throws through a frame with a destructor, catches, and counts in a
    /// thread-local and a global; it aborts (failing the test) if anything is off.</summary>
    const string Source = """
        #include <stdexcept>
        #include <cstdlib>
        #include <cstring>
        thread_local int tls_hits = 0;
        static thread_local long tls_scratch[8] = {1, 2, 3};
        int cycles_done = 0;
        struct Guard { int *hits; ~Guard() { ++*hits; } };
        __attribute__((noinline)) static void thrower(int v) { throw std::runtime_error(v % 2 ? "odd" : "even"); }
        __attribute__((constructor)) static void exercise() {
          int unwound = 0;
          for (int v = 0; v < 4; v++) {
            try { Guard g{&unwound}; tls_hits += v; thrower(v); }
            catch (const std::runtime_error &e) { if (std::strcmp(e.what(), v % 2 ? "odd" : "even") != 0) std::abort(); }
          }
          tls_scratch[3] += tls_hits;
          if (unwound != 4 || tls_hits != 6 || tls_scratch[0] != 1) std::abort();
          cycles_done++;
        }
        """;

    public readonly record struct Figures(int Cycle, long RssKiB, int Mappings, int Descriptors, int Threads)
    {
        public override string ToString() => $"cycle {Cycle,6}: RSS {RssKiB,8} KiB, {Mappings,5} mappings, {Descriptors,4} descriptors, {Threads,3} threads";
    }

    static Figures Measure(int pid, int cycle)
    {
        string proc = $"/proc/{pid}";
        long rss = 0;
        foreach (var line in File.ReadLines($"{proc}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        return new Figures(cycle, rss, File.ReadLines($"{proc}/maps").Count(), Directory.GetFileSystemEntries($"{proc}/fd").Length,
            Directory.GetDirectories($"{proc}/task").Length);
    }

    static int Cycles => int.TryParse(Environment.GetEnvironmentVariable("ORCSHARP_SOAK_CYCLES"), out int n) && n >= 10 ? n : 1000;

    /// <summary>Runs the cycles; returns the figures of the process that runs the code every tenth of the
    /// run, and checks and prints those of the controller too when it is another process.</summary>
    List<Figures> Soak(IExecutorControl executor, int pid)
    {
        var controller = new List<Figures>();
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileCxx(dir, "soak", Source, "-O2 -fPIC");
        var bytes = File.ReadAllBytes(obj);
        using var session = new ExecutionSession(executor);
        int cycles = Cycles;
        var figures = new List<Figures>();
        int liveBefore = executor.MemoryManager.LiveAllocations;
        for (int i = 1; i <= cycles; i++)
        {
            var jd = session.CreateJITDylib("soak");
            var loader = new InputLoader(jd, []);
            jd.AddObject("soak.o", bytes);
            loader.AddDefaultLibraries(cxx: true);
            jd.Link();
            session.Initialize(jd);
            session.RemoveJITDylib(jd);
            if (i % (cycles / 10) == 0)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                figures.Add(Measure(pid, i));
                // In process, the managed heap too, to tell its growth from the native side's.
                output.WriteLine(pid == Environment.ProcessId ? $"in process: {figures[^1]}, managed heap {GC.GetTotalMemory(false) >> 10} KiB" : $"executor: {figures[^1]}");
                if (pid != Environment.ProcessId)
                {
                    controller.Add(Measure(Environment.ProcessId, i));
                    output.WriteLine($"controller: {controller[^1]}");
                }
            }
        }
        Assert.Equal(liveBefore, executor.MemoryManager.LiveAllocations);
        Assert.Empty(session.JITDylibs);
        if (controller.Count > 0) AssertFlat(controller, 64 << 10);
        return figures;
    }

    static void AssertFlat(List<Figures> f, long rssSlackKiB)
    {
        var (warm, end) = (f[0], f[^1]);
        Assert.InRange(end.Descriptors, warm.Descriptors - 4, warm.Descriptors + 4);
        Assert.InRange(end.Threads, warm.Threads - 6, warm.Threads + 6);
        Assert.InRange(end.Mappings, warm.Mappings - 40, warm.Mappings + 40);
        Assert.InRange(end.RssKiB, 0, warm.RssKiB + rssSlackKiB);
    }

    [Fact]
    public unsafe void InProcessLinkRemoveCyclesStayFlat()
    {
        var figures = Soak(new InProcessExecutorControl(), Environment.ProcessId);
        // The test host's RSS moves by several MiB either way with its collector, its JIT and the other
        // tests it runs meanwhile; a leak of a few KiB a cycle hides in that, so the out-of-process test
        // below is the sharper one (its managed heap is printed to tell the two apart).
        AssertFlat(figures, 64 << 10);
    }

    [Fact]
    public void OutOfProcessLinkRemoveCyclesStayFlat()
    {
        var epc = SimpleRemoteEPC.Spawn(TestSupport.Orcsharp, ["executor", "--stdio"]);
        var figures = Soak(epc, epc.ExecutorProcessId!.Value);
        // The executor's RSS grew by about 70 bytes a cycle before loaded images, library thread-locals and
        // debug objects landed; it now grows by about 1.2 KiB a cycle, native memory whose cause is not
        // found yet (docs/reliability.md, issue 16 open). 4 MiB over 900 cycles holds that known growth
        // and catches anything worse than about 4.5 KiB a cycle; tighten it once the cause is fixed.
        AssertFlat(figures, 4 << 10);
    }

    /// <summary>Thread-local blocks whose lifetimes overlap (A created, B created, A released, B released,
    /// as two JITDylibs on two threads do): glibc takes back static TLS only from the top, so releasing A
    /// first used to leave a hole each time and the reserve ran out within a few dozen rounds. Released
    /// modules now wait for the ones above them. Run in an executor process of its own, so no other test's
    /// thread-locals sit in the same static TLS area.</summary>
    [Fact]
    public void InterleavedThreadLocalModulesReuseStaticTls()
    {
        using var ex = RawExecutor.Start();
        var setup = ExecutorSetupInfo.Decode(ex.Read().Payload);
        var create = setup.BootstrapSymbols[BootstrapNames.CreateTlsModule];
        var release = setup.BootstrapSymbols[BootstrapNames.ReleaseTlsModule];
        var image = new OrcSharp.Shared.SpsWriter().Bytes(new byte[48]).U64(64).U64(64).ToArray();
        ulong seq = 0;
        OrcSharp.Shared.ExecutorAddr Create()
        {
            var r = new OrcSharp.Shared.SpsReader(ex.Call(++seq, create, image));
            Assert.Null(r.Expected());
            Assert.True(r.Bool(), $"static TLS ran out after {seq / 4} rounds");
            return r.Addr();
        }
        void Release(OrcSharp.Shared.ExecutorAddr m) => Assert.Null(Wire.Error(ex.Call(++seq, release, new OrcSharp.Shared.SpsWriter().Addr(m).ToArray())));
        for (int round = 0; round < 2000; round++)
        {
            var a = Create();
            var b = Create();
            Release(a);
            Release(b);
        }
    }
}

/// <summary>Tests that measure whole processes run alone.</summary>
[CollectionDefinition(nameof(LongLivedSessionTests), DisableParallelization = true)]
public sealed class LongLivedSessionCollection;
