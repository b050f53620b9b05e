using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// "orcsharp executor --listen": accepts controllers on a TCP port or a Unix socket. An executor process
/// runs one program (its exit ends the process), so it serves one session: connections are accepted and
/// go through their handshake concurrently, each on its own thread and within the handshake timeout, and
/// the first that completes it (authenticates, over TCP) becomes the session. Listening stops then, and
/// later or slower connections are closed. A client that connects and sends nothing therefore delays no
/// one: it is closed when its time is up, and others are served meanwhile.
/// </summary>
public sealed partial class ExecutorListener : IDisposable
{
    [LibraryImport("libc.so.6")] private static partial uint umask(uint mask);
    [LibraryImport("libc.so.6")] private static partial uint geteuid();
    const int SolSocket = 1, SoPeerCred = 17;

    readonly Socket _socket;
    readonly ExecutorEndpoint _endpoint;
    readonly ExecutorToken? _token;
    readonly ExecutorLimits _limits;
    readonly TextWriter _log;
    readonly TaskCompletionSource<int> _sessionEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _claimed, _pending;

    /// <summary>Runs once the session is established: the listening socket and a generated token file are
    /// no longer needed then.</summary>
    public Action? SessionStarted { get; set; }

    ExecutorListener(Socket socket, ExecutorEndpoint endpoint, ExecutorToken? token, ExecutorLimits limits, TextWriter log)
    {
        _socket = socket; _endpoint = endpoint; _token = token; _limits = limits; _log = log;
    }

    /// <summary>Binds and listens. TCP needs a loopback address unless <paramref name="allowRemote"/>; a
    /// Unix socket is created with mode 0600 and accepts only this user's processes.</summary>
    /// <param name="token">The token TCP controllers must prove they know; null for none (a Unix socket
    /// never asks: its file mode is its protection).</param>
    public static ExecutorListener Start(ExecutorEndpoint endpoint, bool allowRemote, ExecutorToken? token, ExecutorLimits limits, TextWriter log)
    {
        var ep = endpoint.ListenEndPoint(allowRemote);
        var socket = new Socket(ep.AddressFamily, SocketType.Stream, endpoint.IsUnix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            if (endpoint.UnixPath is { } path)
            {
                if (File.Exists(path) || Directory.Exists(path)) throw new LinkError($"cannot listen on {endpoint}: {path} already exists");
                // Created 0600 from the start: no moment in which another user could connect.
                uint old = umask(0b111_111_111 & ~0b110_000_000u);
                try { socket.Bind(ep); }
                finally { umask(old); }
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            else socket.Bind(ep);
            socket.Listen(16);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new LinkError($"cannot listen on {endpoint}: {e.Message}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new ExecutorListener(socket, endpoint, endpoint.IsUnix ? null : token, limits, log);
    }

    /// <summary>"127.0.0.1:40123" (the port chosen when 0 was asked for) or "unix:PATH".</summary>
    public string LocalAddress => _endpoint.IsUnix ? _endpoint.ToString() : _socket.LocalEndPoint!.ToString()!;

    /// <summary>Accepts connections until one becomes the session, then returns its exit status when it ends.</summary>
    public int Run()
    {
        while (Volatile.Read(ref _claimed) == 0)
        {
            Socket client;
            try { client = _socket.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (Volatile.Read(ref _claimed) != 0) break;
                _log.WriteLine($"orcsharp executor: error: cannot accept connections: {e.Message}");
                return 1;
            }
            if (Interlocked.Increment(ref _pending) > _limits.MaxPendingConnections)
            {
                Interlocked.Decrement(ref _pending);
                _log.WriteLine($"orcsharp executor: error: connection from {Peer(client)}: more than {_limits.MaxPendingConnections} connections waiting to authenticate; connection closed");
                client.Dispose();
                continue;
            }
            new Thread(() => Connection(client)) { IsBackground = true, Name = "orcsharp-connection" }.Start();
        }
        return _sessionEnded.Task.GetAwaiter().GetResult();
    }

    void Connection(Socket client)
    {
        string peer = Peer(client);
        SimpleRemoteExecutorServer server;
        try
        {
            if (_endpoint.IsUnix) CheckSameUser(client);
            else ExecutorEndpoint.ConfigureTcp(client);
            var stream = new NetworkStream(client, ownsSocket: true);
            server = new SimpleRemoteExecutorServer(new SimpleRemoteTransport(stream, stream), _log, _limits, _token, peer);
        }
        catch (Exception e) when (e is LinkError or SocketException)
        {
            _log.WriteLine($"orcsharp executor: error: connection from {peer}: {e.Message}; connection closed");
            client.Dispose();
            Interlocked.Decrement(ref _pending);
            return;
        }
        SimpleRemoteMessage? first = null;
        bool ready = server.SendSetup() && server.Handshake(out first);
        Interlocked.Decrement(ref _pending);
        if (!ready) return;
        if (Interlocked.Exchange(ref _claimed, 1) != 0)
        {
            server.Close("the executor is already serving another controller");
            return;
        }
        _socket.Dispose(); // no more connections: this executor now belongs to this session
        if (_endpoint.UnixPath is { } path) File.Delete(path);
        SessionStarted?.Invoke();
        _sessionEnded.TrySetResult(server.Serve(first));
    }

    static string Peer(Socket s)
    {
        try { return s.RemoteEndPoint is IPEndPoint ip ? ip.ToString() : "a local process"; }
        catch (SocketException) { return "an unknown peer"; }
    }

    /// <summary>Refuses a Unix-socket peer running as another user (root excepted), should the socket's
    /// mode ever be loosened.</summary>
    static void CheckSameUser(Socket client)
    {
        Span<byte> cred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        if (client.GetRawSocketOption(SolSocket, SoPeerCred, cred) != cred.Length) throw new LinkError("cannot read the peer's credentials");
        uint uid = MemoryMarshal.Read<uint>(cred[4..]);
        if (uid != geteuid() && uid != 0) throw new LinkError($"peer runs as user {uid}, not as this executor's user");
    }

    public void Dispose()
    {
        _socket.Dispose();
        if (_endpoint.UnixPath is { } path && Volatile.Read(ref _claimed) == 0) File.Delete(path);
    }
}
