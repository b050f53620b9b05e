using System.Diagnostics;
using OrcSharp.Executor;
using OrcSharp.Executor.InProcess;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Orc;
using OrcSharp.Shared;
using Xunit;
using Xunit.Abstractions;

namespace OrcSharp.Tests.Orc;

/// <summary>
/// Two threads link into two JITDylibs of one session, initialize, look up symbols (their own, and the
/// other thread's while it changes) and remove, over and over, in process and out of process.
/// ORCSHARP_CONCURRENCY_SECONDS sets how long (default 3, and at least 20 rounds each; docs/reliability.md
/// has a one-minute run).
/// </summary>
public class ConcurrentSessionTests(ITestOutputHelper output)
{
    static TimeSpan Duration => TimeSpan.FromSeconds(
        double.TryParse(Environment.GetEnvironmentVariable("ORCSHARP_CONCURRENCY_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0 ? s : 3);

    const int MinIterations = 20;

    /// <summary>Object t: a function scaling by t+2 through libc's abs, a thread-local, a constructor.</summary>
    static string Source(int t) => $$"""
        #include <stdlib.h>
        static __thread int calls;
        int ready_{{t}};
        int value_{{t}}(int x) { calls++; return abs(x) * {{t + 2}}; }
        __attribute__((constructor)) static void init(void) { ready_{{t}} = abs(-{{t + 1}}); calls = 0; }
        """;

    unsafe void Run(IExecutorControl executor, bool callable)
    {
        string dir = TestSupport.NewTempDir();
        var objects = new[] { 0, 1 }.Select(t => File.ReadAllBytes(TestSupport.CompileC(dir, $"worker{t}", Source(t), "-O2 -fPIC"))).ToArray();
        using var session = new ExecutionSession(executor);
        var current = new JITDylib[2];
        JITDylib NewDylib(int t)
        {
            var jd = session.CreateJITDylib($"worker{t}");
            new InputLoader(jd, []).AddDefaultLibraries(cxx: false);
            Volatile.Write(ref current[t], jd);
            return jd;
        }
        var iterations = new int[2];
        var otherSeen = new int[2];
        var deadline = Stopwatch.StartNew();
        void Work(int t)
        {
            var jd = NewDylib(t);
            string name = $"value_{t}", otherName = $"value_{1 - t}";
            // For the duration, and at least long enough to replace the JITDylib twice (a busy machine
            // slows the rounds down; how many fit in the time is not what is tested).
            while (deadline.Elapsed < Duration || iterations[t] < MinIterations)
            {
                jd.AddObject($"worker{t}.o", objects[t]);
                var unit = jd.Link();
                session.Initialize(jd);
                var fn = jd.Lookup(name) ?? throw new InvalidOperationException($"{name} not found after linking it");
                if (callable) Assert.Equal(7 * (t + 2), ((delegate* unmanaged<int, int>)fn.Value)(-7));
                // The other thread's JITDylib, while it links and removes: found or not, never torn.
                if (Volatile.Read(ref current[1 - t]) is { } other && other.Lookup(otherName) is { } seen)
                {
                    Assert.NotEqual(fn, seen);
                    otherSeen[t]++;
                }
                Assert.Contains(jd, session.JITDylibs);
                session.RemoveUnit(unit);
                Assert.Null(jd.Lookup(name));
                if (++iterations[t] % 10 == 0)
                {
                    session.RemoveJITDylib(jd);
                    var removed = jd;
                    Assert.Equal($"JITDylib 'worker{t}' was removed from its session", Assert.Throws<LinkError>(() => removed.Link()).Message);
                    jd = NewDylib(t);
                }
            }
        }
        var threads = new[] { 0, 1 }.Select(t => Task.Factory.StartNew(() => Work(t), TaskCreationOptions.LongRunning)).ToArray();
        Assert.True(Task.WaitAll(threads, Duration + TimeSpan.FromMinutes(5)), "the workers did not finish");
        output.WriteLine($"{Duration.TotalSeconds} s: {iterations[0]} and {iterations[1]} link/initialize/lookup/remove iterations, " +
                         $"{otherSeen[0]} and {otherSeen[1]} lookups found the other thread's symbol");
        foreach (var jd in session.JITDylibs) session.RemoveJITDylib(jd);
        Assert.Equal(0, executor.MemoryManager.LiveAllocations);
        Assert.Empty(session.JITDylibs);
    }

    [Fact]
    public void TwoThreadsLinkAndLookUpInProcess() => Run(new InProcessExecutorControl(), callable: true);

    [Fact]
    public void TwoThreadsLinkAndLookUpOutOfProcess() =>
        Run(SimpleRemoteEPC.Spawn(TestSupport.Orcsharp, ["executor", "--stdio"]), callable: false);
}
