using System.Diagnostics;
using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>What a connection may cost a listening executor (message size, calls in flight, time to the
/// first message), each broken limit closing that connection alone with one log line, tested against raw
/// sockets; and that an idle or slow client never keeps others from being served.</summary>
public class ExecutorLimitsTests
{
    /// <summary>A client that sends nothing, or half a header, is closed when the handshake time is up;
    /// meanwhile a real controller is served.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IdleAndHalfHeaderClientsAreClosedAndOthersServed(bool insecure)
    {
        // Long enough for this test process to connect and make its first call even on a busy machine.
        string[] args = insecure ? ["--listen", "127.0.0.1:0", "--handshake-timeout", "3", "--insecure-no-auth"] : ["--listen", "127.0.0.1:0", "--handshake-timeout", "3"];
        using var executor = ListeningExecutor.Start(null, args);
        using var idle = new RawPeer(executor.Address);
        using var half = new RawPeer(executor.Address);
        half.Raw(Wire.Header(64, 3)[..13]);
        var sw = Stopwatch.StartNew();

        // Served while both others wait.
        var options = new RemoteExecutorOptions { Token = insecure ? null : ExecutorToken.ReadFile(executor.TokenFile!) };
        var epc = SimpleRemoteEPC.Connect(ExecutorEndpoint.Parse(executor.Address), options);
        Assert.Null(Assert.Single(epc.LookupSymbols([], ["puts"])));

        foreach (var peer in new[] { idle, half })
        {
            var got = peer.ReadToClose();
            Assert.Equal(SimpleRemoteOpcode.Setup, Assert.Single(got).Opcode); // then closed, nothing more
        }
        Assert.InRange(sw.Elapsed.TotalSeconds, 2.9, 30);
        string what = insecure ? "sent no complete message within 3 s" : "did not authenticate within 3 s";
        var lines = executor.WaitForLogLines($"{what}; connection closed", 2);
        Assert.All(lines, l => Assert.StartsWith("orcsharp executor: error: connection from 127.0.0.1:", l));
        Assert.Null(Assert.Single(epc.LookupSymbols([], ["puts"]))); // the session goes on
        epc.Dispose();
        Assert.Equal(0, executor.WaitForExit());
    }

    /// <summary>Before authentication a message may be a few kilobytes; a header promising more is refused
    /// at once, before anything is allocated for it.</summary>
    [Fact]
    public void LargeMessagesBeforeAuthenticationAreRefused()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0");
        using var peer = new RawPeer(executor.Address);
        peer.ReadSetup();
        peer.Raw(Wire.Header(1UL << 30, 3, 1, ExecutorAuthentication.Tag.Value));
        var hangup = Assert.Single(peer.ReadToClose());
        Assert.Equal(SimpleRemoteOpcode.Hangup, hangup.Opcode);
        Assert.Equal("malformed message: size 1073741824 exceeds the limit of 4096 bytes", Wire.Error(hangup.Payload));
        executor.WaitForLog("exceeds the limit of 4096 bytes; connection closed");
        Assert.Equal(0, executor.RunHello().ExitCode);
    }

    [Fact]
    public void MessageSizeLimitIsConfigurableAndAnnounced()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0", "--max-message-size", "64K");
        using var peer = new RawPeer(executor.Address);
        var setup = peer.Authenticate(peer.ReadSetup(), ExecutorToken.ReadFile(executor.TokenFile!));
        Assert.Equal(64UL << 10, new SpsReader(setup.BootstrapMap[ExecutorLimits.MaxMessageSizeKey]).U64());
        peer.Send(SimpleRemoteOpcode.CallWrapper, 2, setup.BootstrapSymbols[BootstrapNames.Describe].Value, new SpsWriter().U64(0).ToArray());
        Assert.Equal(2UL, peer.Read()!.Value.SeqNo); // within the limit: served
        peer.Raw(Wire.Header((64 << 10) + 1, 3, 3, setup.BootstrapSymbols[BootstrapNames.Describe].Value));
        var hangup = Assert.Single(peer.ReadToClose());
        Assert.Equal("malformed message: size 65537 exceeds the limit of 65536 bytes", Wire.Error(hangup.Payload));
        Assert.Equal(1, executor.WaitForExit()); // the session broke: this executor is done
        executor.WaitForLog("exceeds the limit of 65536 bytes; connection closed");
    }

    /// <summary>Calls beyond the limit close the connection. The calls are held in the executor by its
    /// test hook (a service that never returns), as JIT'd code that runs for long would hold them.</summary>
    [Fact]
    public void CallsInFlightAreLimited()
    {
        var env = new Dictionary<string, string> { [SimpleRemoteExecutorServer.PauseEnvironmentVariable] = BootstrapNames.Describe };
        using var executor = ListeningExecutor.Start(env, "--listen", "127.0.0.1:0", "--max-calls-in-flight", "2");
        using var peer = new RawPeer(executor.Address);
        var setup = peer.Authenticate(peer.ReadSetup(), ExecutorToken.ReadFile(executor.TokenFile!));
        Assert.Equal(2UL, new SpsReader(setup.BootstrapMap[ExecutorLimits.MaxCallsInFlightKey]).U64());
        var describe = setup.BootstrapSymbols[BootstrapNames.Describe].Value;
        var lookup = setup.BootstrapSymbols[BootstrapNames.Lookup].Value;
        peer.Send(SimpleRemoteOpcode.CallWrapper, 2, lookup, ExecutorServiceMessages.Lookup([], [], []));
        var answer = peer.Read()!.Value;
        Assert.Equal((SimpleRemoteOpcode.Result, 2UL), (answer.Opcode, answer.SeqNo));
        peer.Send(SimpleRemoteOpcode.CallWrapper, 3, describe, new SpsWriter().U64(0).ToArray());
        peer.Send(SimpleRemoteOpcode.CallWrapper, 4, describe, new SpsWriter().U64(0).ToArray());
        executor.WaitForLogLines("test hook: paused in orcsharp_describe", 2);
        peer.Send(SimpleRemoteOpcode.CallWrapper, 5, lookup, ExecutorServiceMessages.Lookup([], [], []));
        var hangup = Assert.Single(peer.ReadToClose());
        Assert.Equal(SimpleRemoteOpcode.Hangup, hangup.Opcode);
        Assert.Equal("more than 2 calls in flight", Wire.Error(hangup.Payload));
        Assert.Equal(1, executor.WaitForExit());
        Assert.StartsWith("orcsharp executor: error: connection from 127.0.0.1:", executor.WaitForLog(": more than 2 calls in flight; connection closed"));
    }

    /// <summary>Our controller stays within the limit the executor announces, however many threads call.</summary>
    [Fact]
    public void TheControllerKeepsWithinTheAnnouncedLimit()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "napper", "#include <unistd.h>\nvoid napper(void) { usleep(200000); }\n", "-O2 -fPIC");
        using var epc = SimpleRemoteEPC.Spawn(TestSupport.Orcsharp, ["executor", "--stdio", "--max-calls-in-flight", "2"]);
        using var session = new OrcSharp.Orc.ExecutionSession(epc);
        var jd = TestSupport.LinkNew(session, "napper", cxx: false, obj);
        var napper = jd.Lookup("napper")!.Value;
        var sw = Stopwatch.StartNew();
        Task.WaitAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => epc.RunInitializers([napper]))).ToArray(), TimeSpan.FromSeconds(60));
        Assert.True(sw.Elapsed.TotalSeconds >= 0.55, $"6 naps of 0.2 s, 2 at a time, took {sw.Elapsed.TotalSeconds:0.00} s");
        Assert.Empty(epc.LookupSymbols([], ["puts"]).Where(a => a is not null)); // the connection is still good
    }

    /// <summary>More connections in their handshake than allowed are closed at once.</summary>
    [Fact]
    public void PendingConnectionsAreLimited()
    {
        var log = new StringWriter();
        var limits = new ExecutorLimits { MaxPendingConnections = 2, HandshakeTimeout = TimeSpan.FromSeconds(30) };
        var token = ExecutorToken.FromText("pending-connections-token", "test");
        using var listener = ExecutorListener.Start(ExecutorEndpoint.Parse("127.0.0.1:0"), false, token, limits, TextWriter.Synchronized(log));
        var accept = new Thread(() => listener.Run()) { IsBackground = true };
        accept.Start();
        using var a = new RawPeer(listener.LocalAddress);
        using var b = new RawPeer(listener.LocalAddress);
        a.ReadSetup();
        b.ReadSetup();
        using var c = new RawPeer(listener.LocalAddress);
        Assert.Empty(c.ReadToClose());
        Assert.Contains("more than 2 connections waiting to authenticate; connection closed", log.ToString());
    }
}
