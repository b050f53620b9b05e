using System.Diagnostics;
using OrcSharp.Conformance;
using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>
/// The controller never waits forever on its peer: a peer that never sends Setup, goes silent after it,
/// answers calls never made, or sends a huge error text makes "run --connect" / "--oop" fail with one
/// line within a bounded time. The peers are fakes in this process, or a real executor stopped by its
/// test hook.
/// </summary>
public class ControllerTimeoutTests
{
    static readonly string Hello = Path.Combine(TestSupport.RepoRoot, "examples", "hello.c");
    static readonly Dictionary<string, string> OneSecond = new() { ["ORCSHARP_EXECUTOR_TIMEOUT"] = "1" };

    /// <summary>A Setup like a real executor's, without authentication, naming every service at an address
    /// that is never called.</summary>
    static byte[] FakeSetup() => new ExecutorSetupInfo(HostArchitecture.Triple, 4096, new Dictionary<string, byte[]>(),
        BootstrapSymbols.Get().Keys.Select((k, i) => (k, i)).ToDictionary(p => p.k, p => new ExecutorAddr(0x10000 + 16 * (ulong)p.i))).Encode();

    static ProcessResult RunAgainst(FakeExecutor fake, out TimeSpan took)
    {
        var sw = Stopwatch.StartNew();
        var r = ProcessRunner.Run(TestSupport.Orcsharp, ["run", "--connect", fake.Address, Hello, "--", "x"], timeoutMs: 60000, env: OneSecond);
        took = sw.Elapsed;
        Assert.False(r.TimedOut, "the controller hung");
        return r;
    }

    [Fact]
    public void APeerThatNeverSendsSetup()
    {
        using var fake = new FakeExecutor(peer => FakeExecutor.ReadUntilClosed(peer));
        var r = RunAgainst(fake, out var took);
        Assert.Equal((1, "orcsharp: error: executor sent no setup message within 1 s\n"), (r.ExitCode, r.StderrText));
        Assert.True(took < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void APeerThatGoesSilentAfterSetup()
    {
        using var fake = new FakeExecutor(peer =>
        {
            peer.Send(SimpleRemoteOpcode.Setup, 0, default, FakeSetup());
            FakeExecutor.ReadUntilClosed(peer);
        });
        var r = RunAgainst(fake, out var took);
        Assert.Equal((1, "orcsharp: error: executor did not answer orcsharp_lookup within 1 s\n"), (r.ExitCode, r.StderrText));
        Assert.True(took < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void APeerThatAnswersACallNeverMade()
    {
        using var fake = new FakeExecutor(peer =>
        {
            peer.Send(SimpleRemoteOpcode.Setup, 0, default, FakeSetup());
            var call = peer.Receive()!.Value;
            peer.Send(SimpleRemoteOpcode.Result, call.SeqNo + 1000, default, ExecutorServiceMessages.Ok());
            FakeExecutor.ReadUntilClosed(peer);
        });
        var r = RunAgainst(fake, out _);
        Assert.Equal((1, "orcsharp: error: executor answered call 1001, which was never made\n"), (r.ExitCode, r.StderrText));
    }

    /// <summary>A peer's text (an error result, a Hangup's reason) is shown on one line, cut to a sane
    /// length, whatever it holds.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void APeersErrorTextIsOneShortLine(bool asHangup)
    {
        string huge = string.Concat(Enumerable.Repeat("line\n\r\u001b[2J", 1 << 17));
        using var fake = new FakeExecutor(peer =>
        {
            peer.Send(SimpleRemoteOpcode.Setup, 0, default, FakeSetup());
            var call = peer.Receive()!.Value;
            if (asHangup) peer.SendHangup(huge);
            else peer.Send(SimpleRemoteOpcode.Result, call.SeqNo, default, ExecutorServiceMessages.ExpectedFailure(huge));
            FakeExecutor.ReadUntilClosed(peer);
        });
        var r = RunAgainst(fake, out _);
        Assert.Equal(1, r.ExitCode);
        string line = Assert.Single(r.StderrText.TrimEnd('\n').Split('\n'));
        Assert.StartsWith(asHangup ? @"orcsharp: error: executor hung up: line\n\r\u001b[2Jline\n" : @"orcsharp: error: executor: lookup: line\n\r\u001b[2Jline\n", line);
        Assert.EndsWith($"more characters)", line);
        Assert.InRange(line.Length, 100, 600);
        Assert.DoesNotContain('\r', line);
        Assert.DoesNotContain('\u001b', line);
    }

    /// <summary>A Setup the controller cannot work with is one line, not a crash further on.</summary>
    [Theory]
    [InlineData("x86_64-unknown-linux-gnu", 0UL, "page size 0 is not a power of two from 4 KiB to 1 MiB")]
    [InlineData("x86_64\nlinux", 4096UL, @"target triple 'x86_64\nlinux' is not a target triple")]
    public void APeerWithAnUnusableSetup(string triple, ulong pageSize, string why)
    {
        using var fake = new FakeExecutor(peer =>
        {
            peer.Send(SimpleRemoteOpcode.Setup, 0, default, new ExecutorSetupInfo(triple, pageSize, new Dictionary<string, byte[]>(),
                new Dictionary<string, ExecutorAddr>()).Encode());
            FakeExecutor.ReadUntilClosed(peer);
        });
        var r = RunAgainst(fake, out _);
        Assert.Equal((1, $"orcsharp: error: executor: bad setup message: {why}\n"), (r.ExitCode, r.StderrText));
    }

    /// <summary>A child executor that stops answering is given up on, and killed: no child is left behind.</summary>
    [Fact]
    public void ASilentChildExecutorIsKilled()
    {
        var env = new Dictionary<string, string>(OneSecond)
        {
            ["ORCSHARP_EXECUTOR_TIMEOUT"] = "3",
            [SimpleRemoteExecutorServer.PauseEnvironmentVariable] = BootstrapNames.MemFinalize,
        };
        var r = ProcessRunner.Run(TestSupport.Orcsharp, ["run", "--oop", Hello, "--", "x"], timeoutMs: 60000, env: env);
        Assert.False(r.TimedOut);
        Assert.Equal(1, r.ExitCode);
        var lines = r.StderrText.TrimEnd('\n').Split('\n');
        Assert.Equal("orcsharp: error: executor did not answer orcsharp_mem_finalize within 3 s", lines[^1]);
        int pid = ExecutorKillTests.PausedPid(lines[0]);
        Assert.True(ExecutorKillTests.IsGone(pid), $"executor {pid} is still there");
    }
}
