using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>Who can reach a listening executor: loopback unless asked otherwise, a private Unix socket,
/// and over TCP only a controller that knows the token (and an executor that proves it knows it too).</summary>
public class ExecutorAccessTests
{
    static readonly string Hello = Path.Combine(TestSupport.RepoRoot, "examples", "hello.c");

    /// <summary>A token file (mode 0600) holding <paramref name="text"/>.</summary>
    static string TokenFile(string text)
    {
        string path = Path.Combine(TestSupport.NewTempDir(), "token");
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    [Fact]
    public void ListensOnLoopbackByDefault()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "0");
        Assert.StartsWith("127.0.0.1:", executor.Address);
        var r = executor.RunHello();
        Assert.Equal(("", 0), (r.StderrText, r.ExitCode));
        Assert.Equal(0, executor.WaitForExit());
        Assert.StartsWith("hello, world!", executor.Stdout);
    }

    [Theory]
    [InlineData("0.0.0.0:0")]
    [InlineData("[::]:0")]
    public void AnyOtherAddressNeedsAllowRemote(string address)
    {
        var r = TestSupport.RunOrcsharp("executor", "--listen", address);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"orcsharp: error: listening on {address} would let other machines run code in this executor; listen on 127.0.0.1 or add --allow-remote\n", r.StderrText);

        using var remote = ListeningExecutor.Start(null, "--listen", "0.0.0.0:0", "--allow-remote");
        Assert.StartsWith("0.0.0.0:", remote.Address);
        Assert.NotNull(remote.TokenFile); // still authenticated
    }

    [Fact]
    public void UnixSocketIsPrivateAndGoesAwayOnceInUse()
    {
        string dir = TestSupport.NewTempDir();
        string path = Path.Combine(dir, "executor.sock");
        using var executor = ListeningExecutor.Start(null, "--listen", $"unix:{path}");
        Assert.Equal($"unix:{path}", executor.Address);
        Assert.Null(executor.TokenFile); // the file mode is the protection
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        var r = TestSupport.RunOrcsharp("run", "--connect", $"unix:{path}", Hello, "--", "unix");
        Assert.Equal(("", 0), (r.StderrText, r.ExitCode));
        Assert.Equal(0, executor.WaitForExit());
        Assert.StartsWith("hello, unix!", executor.Stdout);
        Assert.False(File.Exists(path));

        var existing = TestSupport.RunOrcsharp("executor", "--listen", $"unix:{Hello}");
        Assert.Equal($"orcsharp: error: cannot listen on unix:{Hello}: {Hello} already exists\n", existing.StderrText);
    }

    [Fact]
    public void TokenFromEnvironmentOrFileAuthenticates()
    {
        string tokenFile = TokenFile("a-shared-secret-of-some-length\n");
        var env = new Dictionary<string, string> { [ExecutorToken.EnvironmentVariable] = "a-shared-secret-of-some-length" };
        using var executor = ListeningExecutor.Start(env, "--listen", "127.0.0.1:0");
        Assert.Null(executor.TokenFile); // none generated
        var r = TestSupport.RunOrcsharp("run", "--connect", executor.Address, "--token-file", tokenFile, Hello, "--", "x");
        Assert.Equal(("", 0), (r.StderrText, r.ExitCode));

        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var open = TestSupport.RunOrcsharp("executor", "--listen", "0", "--token-file", tokenFile);
        Assert.Equal($"orcsharp: error: token file {tokenFile} is accessible to other users (chmod 600 {tokenFile})\n", open.StderrText);
    }

    [Fact]
    public void GeneratedTokenFileIsPrivateAndRemovedOnceUsed()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0");
        string token = executor.TokenFile!;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(token));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(token)!));
        Assert.Equal(64, File.ReadAllText(token).Trim().Length);
        Assert.Equal(0, executor.RunHello().ExitCode);
        Assert.False(File.Exists(token));
    }

    /// <summary>Before authenticating, a peer learns the triple, the page size and its challenge: no
    /// address of the executor. Without the token a controller gets one clear line and nothing runs.</summary>
    [Fact]
    public void NothingRunsWithoutTheToken()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0");
        using (var peer = new RawPeer(executor.Address))
        {
            var setup = peer.ReadSetup();
            Assert.Equal([ExecutorAuthentication.BootstrapName], setup.BootstrapSymbols.Keys);
            Assert.Equal([ExecutorAuthentication.NonceKey], setup.BootstrapMap.Keys);
        }
        executor.WaitForLog("closed before authenticating; connection closed");

        var none = TestSupport.RunOrcsharp("run", "--connect", executor.Address, Hello);
        Assert.Equal((1, "orcsharp: error: executor requires authentication: give its token with --token-file FILE or ORCSHARP_EXECUTOR_TOKEN\n"),
            (none.ExitCode, none.StderrText));

        string wrong = TokenFile("not-the-executors-token");
        var r = TestSupport.RunOrcsharp("run", "--connect", executor.Address, "--token-file", wrong, Hello);
        Assert.Equal((1, "orcsharp: error: executor hung up: authentication failed (wrong token, or an answer to another connection's challenge)\n"),
            (r.ExitCode, r.StderrText));
        executor.WaitForLog("authentication failed");
        Assert.False(executor.HasExited);
        Assert.Equal(0, executor.RunHello().ExitCode); // the right token still works afterwards
        Assert.StartsWith("hello, world!", executor.Stdout);
    }

    /// <summary>A call before authenticating, or a wrong answer followed by calls, closes the connection
    /// with one log line; no call is answered.</summary>
    [Fact]
    public void CallsBeforeOrAfterAWrongAnswerAreNeverServed()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0");
        using (var peer = new RawPeer(executor.Address))
        {
            peer.ReadSetup();
            peer.Send(SimpleRemoteOpcode.CallWrapper, 1, 0x1234, []);
            var got = peer.ReadToClose();
            Assert.Equal(SimpleRemoteOpcode.Hangup, Assert.Single(got).Opcode);
            Assert.Equal("sent a call to 0x1234 before authenticating", Wire.Error(got[0].Payload));
        }
        executor.WaitForLog("sent a call to 0x1234 before authenticating; connection closed");

        using (var peer = new RawPeer(executor.Address))
        {
            peer.ReadSetup();
            var bogus = new SpsWriter().Bytes(new byte[32]).Bytes(new byte[32]).ToArray();
            peer.Raw([.. Wire.Message(SimpleRemoteOpcode.CallWrapper, 1, ExecutorAuthentication.Tag.Value, bogus),
                .. Wire.Message(SimpleRemoteOpcode.CallWrapper, 2, 0x1234, [])]);
            var got = peer.ReadToClose();
            Assert.Equal(SimpleRemoteOpcode.Hangup, Assert.Single(got).Opcode);
        }
        executor.WaitForLog("authentication failed");
        Assert.Single(executor.Log, l => l.Contains("authentication failed"));
    }

    /// <summary>An answer is bound to its connection's challenge: replayed on another connection it fails,
    /// on its own it succeeds, and the executor's proof checks out.</summary>
    [Fact]
    public void AnAnswerReplayedOnAnotherConnectionFails()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0");
        var token = ExecutorToken.ReadFile(executor.TokenFile!);
        using var first = new RawPeer(executor.Address);
        using var second = new RawPeer(executor.Address);
        var nonce1 = new SpsReader(first.ReadSetup().BootstrapMap[ExecutorAuthentication.NonceKey]).Bytes().ToArray();
        second.ReadSetup();
        var answer = ExecutorAuthentication.Answer(token, nonce1, out var controllerNonce);

        second.Send(SimpleRemoteOpcode.CallWrapper, 1, ExecutorAuthentication.Tag.Value, answer);
        Assert.Equal(SimpleRemoteOpcode.Hangup, Assert.Single(second.ReadToClose()).Opcode);
        executor.WaitForLog("authentication failed");

        first.Send(SimpleRemoteOpcode.CallWrapper, 7, ExecutorAuthentication.Tag.Value, answer);
        var result = first.Read()!.Value;
        Assert.Equal((SimpleRemoteOpcode.Result, 7UL), (result.Opcode, result.SeqNo));
        var r = new SpsReader(result.Payload);
        Assert.Null(r.Expected());
        Assert.True(ExecutorAuthentication.CheckProof(token, nonce1, controllerNonce, r.Bytes()));
        var full = ExecutorSetupInfo.Decode(r.Bytes());
        Assert.Contains(BootstrapNames.Lookup, full.BootstrapSymbols.Keys);
        first.Send(SimpleRemoteOpcode.Hangup, 0, 0, new SpsWriter().Error(null).WrittenSpan);
        Assert.Equal(0, executor.WaitForExit());
    }

    [Fact]
    public void InsecureNoAuthWarnsAndNeedsNoToken()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0", "--insecure-no-auth");
        Assert.Null(executor.TokenFile);
        Assert.Contains($"orcsharp executor: warning: --insecure-no-auth: anyone who can reach {executor.Address} can run code as this user", executor.StartLines);
        var r = TestSupport.RunOrcsharp("run", "--connect", executor.Address, Hello, "--", "x");
        Assert.Equal(("", 0), (r.StderrText, r.ExitCode));
    }

    /// <summary>A controller that has a token insists on the executor proving it knows it, so an executor
    /// that does not authenticate (another program on the port, say) gets no code.</summary>
    [Fact]
    public void AControllerWithATokenRefusesAnExecutorThatDoesNotAuthenticate()
    {
        using var executor = ListeningExecutor.Start(null, "--listen", "127.0.0.1:0", "--insecure-no-auth");
        string token = TokenFile("some-token-of-sufficient-length");
        var r = TestSupport.RunOrcsharp("run", "--connect", executor.Address, "--token-file", token, Hello);
        Assert.Equal((1, "orcsharp: error: executor does not authenticate, so it cannot prove it knows the token (give no token to use an executor started with --insecure-no-auth)\n"),
            (r.ExitCode, r.StderrText));
    }

    [Fact]
    public void AnExecutorThatCannotProveTheTokenIsRefused()
    {
        var token = ExecutorToken.FromText("the-controllers-token-here", "test");
        using var fake = new FakeExecutor(peer =>
        {
            var setup = new ExecutorSetupInfo("x86_64-unknown-linux-gnu", 4096,
                new Dictionary<string, byte[]> { [ExecutorAuthentication.NonceKey] = new SpsWriter().Bytes(new byte[32]).ToArray() },
                new Dictionary<string, ExecutorAddr> { [ExecutorAuthentication.BootstrapName] = ExecutorAuthentication.Tag });
            peer.Send(SimpleRemoteOpcode.Setup, 0, default, setup.Encode());
            var call = peer.Receive()!.Value;
            peer.Send(SimpleRemoteOpcode.Result, call.SeqNo, default, new SpsWriter().Expected(null).Bytes(new byte[32]).Bytes(setup.Encode()).WrittenSpan);
            FakeExecutor.ReadUntilClosed(peer);
        });
        var e = Assert.Throws<LinkError>(() => SimpleRemoteEPC.Connect(ExecutorEndpoint.Parse(fake.Address), new RemoteExecutorOptions { Token = token }));
        Assert.Equal("executor could not prove that it knows the token", e.Message);
    }
}
