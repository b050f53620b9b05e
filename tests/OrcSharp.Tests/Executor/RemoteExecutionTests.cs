using OrcSharp;
using System.Diagnostics;
using System.Text.Json;
using OrcSharp.Conformance;
using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Orc;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>Out-of-process execution: round trips, failures of the JIT'd code, of the executor and of the
/// connection, malformed messages, and TCP. Every wait has a timeout, so a hang fails the test.</summary>
public class RemoteExecutionTests
{
    const string Hello = "#include <stdio.h>\nint main(int argc, char **argv) { printf(\"hello %d\\n\", argc); return 3; }\n";

    static int RoundTrips(string stderr)
    {
        string json = stderr.Split('\n').Last(l => l.StartsWith('{'));
        return JsonDocument.Parse(json).RootElement.GetProperty("executor_round_trips").GetInt32();
    }

    [Fact]
    public void HelloTakesAtMostFourRoundTripsAndOneMorePerObject()
    {
        string dir = TestSupport.NewTempDir();
        string hello = TestSupport.CompileC(dir, "hello", Hello, "-O2");
        var r = TestSupport.RunOrcsharp("run", "--oop", "--stats", hello);
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("hello 1\n", r.StdoutText);
        int one = RoundTrips(r.StderrText);
        Assert.InRange(one, 1, 4);

        var objs = new List<string> { TestSupport.CompileC(dir, "main3", "#include <stdio.h>\nint a(void); int b(void);\nint main(void) { printf(\"%d\\n\", a() + b()); return 0; }\n", "-O2") };
        objs.Add(TestSupport.CompileC(dir, "a", "#include <string.h>\nint a(void) { return (int)strlen(\"four\"); }\n", "-O2"));
        objs.Add(TestSupport.CompileC(dir, "b", "#include <stdlib.h>\nint b(void) { return abs(-5); }\n", "-O2"));
        var r3 = TestSupport.RunOrcsharp(["run", "--oop", "--stats", .. objs]);
        Assert.Equal("9\n", r3.StdoutText);
        Assert.InRange(RoundTrips(r3.StderrText), 1, one + 2);
    }

    /// <summary>The one error line names the signal; the crash report follows it (Debugging/CrashReportTests);
    /// and the run ends by the same signal, as the native program does.</summary>
    [Theory]
    [InlineData("int main(void) { volatile int *p = 0; return *p; }", "SIGSEGV", 11)]
    [InlineData("#include <stdlib.h>\nint main(void) { abort(); }", "SIGABRT", 6)]
    public void CrashingCodeReportsTheSignal(string source, string signal, int number)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "crash", source, "-O0");
        var sw = Stopwatch.StartNew();
        var r = TestSupport.RunOrcsharp("run", "--oop", obj);
        Assert.Equal(128 + number, r.ExitCode);
        Assert.StartsWith($"orcsharp: error: executor terminated by signal {signal}\n{signal}", r.StderrText);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void ExitStatusOfUnderscoreExitIsPreserved()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "quick", "#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf(\"lost\"); _exit(7); }", "-O2");
        var r = TestSupport.RunOrcsharp("run", "--oop", obj);
        Assert.Equal(7, r.ExitCode);
        Assert.Equal("", r.StderrText);
    }

    /// <summary>The executor dies while calls are in flight: every pending call and every later call fails
    /// with the cause, and nothing hangs.</summary>
    [Fact]
    public unsafe void ExecutorDeathFailsEveryPendingCall()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "timers", """
            #include <signal.h>
            #include <unistd.h>
            void sleeper(void) { sleep(30); }
            void killer(void) { usleep(300000); kill(getpid(), SIGKILL); }
            """, "-O2 -fPIC");
        using var epc = SimpleRemoteEPC.Spawn(TestSupport.Orcsharp, ["executor", "--stdio"]);
        using var session = new ExecutionSession(epc);
        var jd = TestSupport.LinkNew(session, "timers", cxx: false, obj);
        var sleeper = jd.Lookup("sleeper")!.Value;
        var killer = jd.Lookup("killer")!.Value;
        var sw = Stopwatch.StartNew();
        var calls = new[] { sleeper, sleeper, killer }
            .Select(f => Task.Run(() => epc.RunInitializers([f]))).ToArray();
        foreach (var call in calls)
        {
            var e = Assert.Throws<AggregateException>(() => call.Wait(TimeSpan.FromSeconds(20)));
            var le = Assert.IsType<ExecutorLostException>(e.InnerException);
            Assert.Equal("executor terminated by signal SIGKILL", le.Message);
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20));
        var later = Assert.Throws<ExecutorLostException>(() => epc.LookupSymbols([], ["puts"]));
        Assert.Contains("SIGKILL", later.Message);
    }

    /// <summary>Raw messages to "orcsharp executor --stdio": unknown wrapper functions and malformed
    /// arguments get error replies and the executor keeps serving; a broken header makes it hang up
    /// cleanly (status 1, one line on stderr), never crash.</summary>
    [Fact]
    public void MalformedMessagesGetErrorsOrACleanHangup()
    {
        using (var ex = RawExecutor.Start())
        {
            var setup = ex.Read();
            Assert.Equal(SimpleRemoteOpcode.Setup, setup.Opcode);
            var info = ExecutorSetupInfo.Decode(setup.Payload);
            Assert.StartsWith("x86_64", info.TargetTriple);

            ex.Send(SimpleRemoteOpcode.CallWrapper, 1, 0x1234, []);
            var unknown = ex.Read();
            Assert.Equal((SimpleRemoteOpcode.Result, 1UL), (unknown.Opcode, unknown.SeqNo));
            Assert.Empty(unknown.Payload); // as LLVM's executor answers: an out-of-band error, an empty result

            ex.Send(SimpleRemoteOpcode.CallWrapper, 2, info.BootstrapSymbols[BootstrapNames.Lookup].Value, [1, 0, 0]);
            var truncated = ex.Read();
            Assert.Equal(2UL, truncated.SeqNo);
            Assert.Contains("malformed message", new SpsReader(truncated.Payload).Expected());

            ex.Send(SimpleRemoteOpcode.CallWrapper, 3, info.BootstrapSymbols[BootstrapNames.Lookup].Value, new SpsWriter().U64(ulong.MaxValue).ToArray());
            Assert.Contains("malformed message", new SpsReader(ex.Read().Payload).Expected());

            ex.Send(SimpleRemoteOpcode.Hangup, 0, 0, []);
            Assert.Equal(0, ex.Exit());
        }
        foreach (var header in new[] { Wire.Header(1UL << 40, 3), Wire.Header(8, 3), Wire.Header(32, 99) })
        {
            using var ex = RawExecutor.Start();
            ex.Read();
            ex.Raw(header);
            var reply = ex.Read();
            Assert.Equal(SimpleRemoteOpcode.Hangup, reply.Opcode);
            Assert.Equal(1, ex.Exit());
            var err = ex.Stderr().TrimEnd('\n').Split('\n');
            Assert.Single(err);
            Assert.StartsWith("orcsharp executor: error: malformed message", err[0]);
        }
    }

    [Fact]
    public void RunsOverTcp()
    {
        string dir = TestSupport.NewTempDir();
        string hello = TestSupport.CompileC(dir, "hello", Hello, "-O2");
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0");
        Assert.StartsWith("127.0.0.1:", executor.Address);
        var r = TestSupport.RunOrcsharp("run", "--connect", executor.Address, "--token-file", executor.TokenFile!, hello, "--", "x");
        Assert.Equal(3, r.ExitCode);
        Assert.Equal("", r.StderrText);
        Assert.Equal(3, executor.WaitForExit());
        Assert.Equal("hello 2\n", executor.Stdout);
    }

    /// <summary>Over TCP there is no child to wait for: when the connection dies mid-call, the pending
    /// call fails with the connection's fate instead of hanging.</summary>
    [Fact]
    public unsafe void LostConnectionFailsThePendingCall()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "sleeper", "#include <unistd.h>\nvoid sleeper(void) { sleep(30); }\n", "-O2 -fPIC");
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0");
        using var epc = SimpleRemoteEPC.Connect(ExecutorEndpoint.Parse(executor.Address),
            new RemoteExecutorOptions { Token = ExecutorToken.ReadFile(executor.TokenFile!) });
        using var session = new ExecutionSession(epc);
        var jd = TestSupport.LinkNew(session, "sleeper", cxx: false, obj);
        var sleeper = jd.Lookup("sleeper")!.Value;
        var call = Task.Run(() => epc.RunInitializers([sleeper]));
        Thread.Sleep(300);
        executor.Kill();
        var e = Assert.Throws<AggregateException>(() => call.Wait(TimeSpan.FromSeconds(20)));
        var le = Assert.IsType<ExecutorLostException>(e.InnerException);
        Assert.Matches("^executor (closed the connection|connection failed: .+)$", le.Message);
    }

    [Fact]
    public void NoExecutorListeningIsOneClearError()
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var r = TestSupport.RunOrcsharp("run", "--connect", $"127.0.0.1:{port}", Path.Combine(TestSupport.RepoRoot, "examples", "hello.c"));
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith($"orcsharp: error: cannot connect to executor at 127.0.0.1:{port}", r.StderrText);
        Assert.Single(r.StderrText.TrimEnd('\n').Split('\n'));
    }
}
