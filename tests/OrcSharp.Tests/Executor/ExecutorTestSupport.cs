using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using OrcSharp.Conformance;
using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>SimpleRemoteEPC bytes by hand: headers and whole messages.</summary>
static class Wire
{
    public static byte[] Header(ulong size, ulong opcode, ulong seq = 0, ulong tag = 0)
    {
        var h = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(h, size);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), opcode);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(16), seq);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(24), tag);
        return h;
    }

    public static byte[] Message(SimpleRemoteOpcode op, ulong seq, ulong tag, ReadOnlySpan<byte> payload) =>
        [.. Header((ulong)(32 + payload.Length), (ulong)op, seq, tag), .. payload];

    /// <summary>The error an SPS result or Hangup payload carries (null for success).</summary>
    public static string? Error(byte[] payload) => new SpsReader(payload).Error();

    /// <summary>The error an SPSExpected result carries (null for a value).</summary>
    public static string? Expected(byte[] payload) => new SpsReader(payload).Expected();

    /// <summary>OrcSharp's services that return nothing answer with an SPSError; the others with an SPSExpected.</summary>
    static readonly HashSet<string> ReturnsValue = [BootstrapNames.MemReserve, BootstrapNames.MemFinalize, BootstrapNames.Lookup,
        BootstrapNames.Describe, BootstrapNames.CreateTlsModule, BootstrapNames.ImportThreadLocals, BootstrapNames.RunProgram];

    /// <summary>The error of a result of <paramref name="service"/>, read as its result type says.</summary>
    public static string? Result(string service, byte[] payload) => ReturnsValue.Contains(service) ? Expected(payload) : Error(payload);
}

/// <summary>
/// "orcsharp executor --listen ..." as a child of the test: its log lines (stderr) collected as they come,
/// its address and generated token file read from them. Killed on dispose if still running.
/// </summary>
sealed class ListeningExecutor : IDisposable
{
    readonly Process _p;
    readonly BlockingCollection<string> _lines = new();
    readonly List<string> _seen = new();
    readonly Task<string> _stdout;

    public string Address { get; }
    public string? TokenFile { get; }
    public int Pid => _p.Id;
    public IReadOnlyList<string> StartLines { get; }

    ListeningExecutor(Process p, string address, string? tokenFile, List<string> startLines)
    {
        _p = p; Address = address; TokenFile = tokenFile; StartLines = startLines;
        _stdout = p.StandardOutput.ReadToEndAsync();
    }

    public static ListeningExecutor Start(IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo(TestSupport.Orcsharp) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("executor");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove(ExecutorToken.EnvironmentVariable);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        var lines = new BlockingCollection<string>();
        _ = Task.Run(async () =>
        {
            while (await p.StandardError.ReadLineAsync() is { } l) lines.Add(l);
            lines.CompleteAdding();
        });
        var start = new List<string>();
        string? tokenFile = null;
        while (true)
        {
            if (!lines.TryTake(out var line, TimeSpan.FromSeconds(60)))
            {
                p.Kill();
                throw new InvalidOperationException("executor did not start listening: " + string.Join(" | ", start));
            }
            start.Add(line);
            const string written = "orcsharp executor: token written to ";
            if (line.StartsWith(written, StringComparison.Ordinal)) tokenFile = line[written.Length..line.IndexOf(' ', written.Length)];
            const string listening = "orcsharp executor: listening on ";
            if (line.StartsWith(listening, StringComparison.Ordinal))
                return new ListeningExecutor(p, line[listening.Length..], tokenFile, start).Attach(lines);
        }
    }

    void Add(string l) { lock (_seen) _seen.Add(l); }

    ListeningExecutor Attach(BlockingCollection<string> lines)
    {
        _ = Task.Run(() => { foreach (var l in lines.GetConsumingEnumerable()) Add(l); });
        return this;
    }

    public int Port => int.Parse(Address[(Address.LastIndexOf(':') + 1)..]);

    /// <summary>Waits for a log line containing <paramref name="text"/>; returns it.</summary>
    public string WaitForLog(string text, int timeoutMs = 30000)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            lock (_seen)
                if (_seen.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal)) is { } found) return found;
            Thread.Sleep(20);
        }
        throw new Xunit.Sdk.XunitException($"no executor log line with '{text}'; got: {string.Join(" | ", Log)}");
    }

    /// <summary>Waits until <paramref name="count"/> log lines contain <paramref name="text"/>; returns them.</summary>
    public string[] WaitForLogLines(string text, int count, int timeoutMs = 30000)
    {
        var sw = Stopwatch.StartNew();
        string[] found;
        do
        {
            found = Log.Where(l => l.Contains(text, StringComparison.Ordinal)).ToArray();
            if (found.Length >= count) return found;
            Thread.Sleep(20);
        } while (sw.ElapsedMilliseconds < timeoutMs);
        throw new Xunit.Sdk.XunitException($"{found.Length} executor log lines with '{text}', expected {count}; got: {string.Join(" | ", Log)}");
    }

    public string[] Log { get { lock (_seen) return _seen.ToArray(); } }

    public int WaitForExit(int timeoutMs = 30000)
    {
        Assert.True(_p.WaitForExit(timeoutMs), "executor did not exit");
        _p.WaitForExit();
        return _p.ExitCode;
    }

    public bool HasExited => _p.HasExited;
    public string Stdout => _stdout.WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();

    /// <summary>examples/hello.c run here with "world" as its argument (exit status 0).</summary>
    public ProcessResult RunHello(params string[] extra)
    {
        var args = new List<string> { "run", "--connect", Address };
        if (TokenFile is not null) args.AddRange(["--token-file", TokenFile]);
        args.AddRange(extra);
        args.AddRange([Path.Combine(TestSupport.RepoRoot, "examples", "hello.c"), "--", "world"]);
        return TestSupport.RunOrcsharp([.. args]);
    }

    /// <summary>SIGKILL, and waits for it to be gone.</summary>
    public void Kill()
    {
        if (!_p.HasExited) _p.Kill();
        _p.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        _p.Dispose();
    }
}

/// <summary>A peer that pretends to be an executor: accepts one TCP connection on loopback and plays
/// <paramref name="script"/> on it.</summary>
sealed class FakeExecutor : IDisposable
{
    readonly System.Net.Sockets.TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
    readonly Task _task;
    public string Address { get; }

    public FakeExecutor(Action<SimpleRemoteTransport> script)
    {
        _listener.Start();
        Address = _listener.LocalEndpoint.ToString()!;
        // A thread of its own: a busy thread pool (tests run in parallel) must not delay the peer's part.
        _task = Task.Factory.StartNew(() =>
        {
            using var client = _listener.AcceptTcpClient();
            var stream = client.GetStream();
            try { script(new SimpleRemoteTransport(stream, stream)); }
            catch (Exception e) when (e is IOException or LinkError or ObjectDisposedException) { }
        }, TaskCreationOptions.LongRunning);
    }

    /// <summary>For scripts: reads and ignores whatever comes until the controller goes away.</summary>
    public static void ReadUntilClosed(SimpleRemoteTransport peer)
    {
        try { while (peer.Receive() is not null) { } }
        catch (Exception e) when (e is IOException or LinkError or ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _listener.Stop();
        _task.Wait(TimeSpan.FromSeconds(30));
    }
}

/// <summary>A controller written byte by byte over a socket: sends raw bytes, reads whole messages.</summary>
sealed class RawPeer : IDisposable
{
    readonly Socket _socket;
    readonly NetworkStream _stream;
    readonly SimpleRemoteTransport _reader;

    public RawPeer(string address)
    {
        var ep = ExecutorEndpoint.Parse(address);
        _socket = ep.IsUnix ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) : new Socket(SocketType.Stream, ProtocolType.Tcp);
        if (ep.UnixPath is { } path) _socket.Connect(new UnixDomainSocketEndPoint(path));
        else _socket.Connect(ep.Host!, ep.Port);
        _stream = new NetworkStream(_socket, ownsSocket: true);
        _reader = new SimpleRemoteTransport(_stream, Stream.Null);
    }

    public void Raw(byte[] bytes) => _stream.Write(bytes);
    public void Send(SimpleRemoteOpcode op, ulong seq, ulong tag, ReadOnlySpan<byte> payload) => Raw(Wire.Message(op, seq, tag, payload));

    /// <summary>The next message; null when the executor closed the connection.</summary>
    public SimpleRemoteMessage? Read(int timeoutMs = 30000)
    {
        try { return Task.Run(_reader.Receive).WaitAsync(TimeSpan.FromMilliseconds(timeoutMs)).GetAwaiter().GetResult(); }
        catch (Exception e) when (e is IOException or LinkError) { return null; }
    }

    /// <summary>Reads until the executor closes the connection; returns what came (a Hangup, say).</summary>
    public List<SimpleRemoteMessage> ReadToClose(int timeoutMs = 30000)
    {
        var got = new List<SimpleRemoteMessage>();
        while (Read(timeoutMs) is { } m) got.Add(m);
        return got;
    }

    public ExecutorSetupInfo ReadSetup()
    {
        var m = Read();
        Assert.NotNull(m);
        Assert.Equal(SimpleRemoteOpcode.Setup, m!.Value.Opcode);
        return ExecutorSetupInfo.Decode(m.Value.Payload);
    }

    /// <summary>Answers the challenge of <paramref name="setup"/> with <paramref name="token"/>; returns the
    /// full Setup the executor then sends.</summary>
    public ExecutorSetupInfo Authenticate(ExecutorSetupInfo setup, ExecutorToken token)
    {
        var nonce = new SpsReader(setup.BootstrapMap[ExecutorAuthentication.NonceKey]).Bytes().ToArray();
        Send(SimpleRemoteOpcode.CallWrapper, 1, ExecutorAuthentication.Tag.Value, ExecutorAuthentication.Answer(token, nonce, out _));
        var r = Read();
        Assert.Equal(SimpleRemoteOpcode.Result, r!.Value.Opcode);
        var reader = new SpsReader(r.Value.Payload);
        Assert.Null(reader.Expected());
        reader.Bytes();
        return ExecutorSetupInfo.Decode(reader.Bytes());
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>"orcsharp executor --stdio" driven byte by byte.</summary>
sealed class RawExecutor : IDisposable
{
    readonly Process _p;
    readonly Task<string> _stderr;
    RawExecutor(Process p) { _p = p; _stderr = p.StandardError.ReadToEndAsync(); }

    public static RawExecutor Start(IReadOnlyDictionary<string, string>? env = null, params string[] extraArgs)
    {
        var psi = new ProcessStartInfo(TestSupport.Orcsharp)
        { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("executor");
        psi.ArgumentList.Add("--stdio");
        foreach (var a in extraArgs) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        return new RawExecutor(Process.Start(psi)!);
    }

    public void Raw(byte[] bytes)
    {
        _p.StandardInput.BaseStream.Write(bytes);
        _p.StandardInput.BaseStream.Flush();
    }

    public void Send(SimpleRemoteOpcode op, ulong seq, ulong tag, ReadOnlySpan<byte> payload) => Raw(Wire.Message(op, seq, tag, payload));

    public SimpleRemoteMessage Read()
    {
        var t = new SimpleRemoteTransport(_p.StandardOutput.BaseStream, Stream.Null);
        var m = Task.Run(t.Receive).WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        Assert.NotNull(m);
        return m!.Value;
    }

    /// <summary>Calls a wrapper function and returns its result payload.</summary>
    public byte[] Call(ulong seq, ExecutorAddr fn, ReadOnlySpan<byte> argument)
    {
        Send(SimpleRemoteOpcode.CallWrapper, seq, fn.Value, argument);
        var r = Read();
        Assert.Equal((SimpleRemoteOpcode.Result, seq), (r.Opcode, r.SeqNo));
        return r.Payload;
    }

    public int Exit()
    {
        Assert.True(_p.WaitForExit(30000), "executor did not exit");
        return _p.ExitCode;
    }

    public bool HasExited => _p.HasExited;
    public string Stderr() => _stderr.WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();

    public void Dispose()
    {
        if (!_p.HasExited) _p.Kill();
        _p.Dispose();
    }
}
