using OrcSharp.Executor.TargetProcess;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// The executor end of one SimpleRemoteEPC connection: announces itself (Setup), authenticates the
/// controller when a token is required (<see cref="ExecutorAuthentication"/>), then serves CallWrapper
/// messages, each on its own thread so many calls can be in flight, until the controller hangs up or goes
/// away. Only the wrapper functions it announced can be called. A malformed message, a broken limit
/// (<see cref="ExecutorLimits"/>) or a broken stream closes the connection with one log line and a Hangup
/// that says why. Nothing a controller sends can crash it.
/// </summary>
public sealed class SimpleRemoteExecutorServer
{
    /// <summary>Bootstrap-map key of the slab reserved near the C library at start-up (SPS: address,
    /// size), so the controller's first allocation costs no round trip.</summary>
    public const string InitialSlabKey = "orcsharp.initial_slab";
    /// <summary>Test hook: names a service (orcsharp_lookup ...) in which the executor stops for good after
    /// printing its pid on stderr, so a test can kill it at that step of a link.</summary>
    public const string PauseEnvironmentVariable = "ORCSHARP_TEST_EXECUTOR_PAUSE_IN";
    /// <summary>JIT'd code (a program's main) runs on these threads: as much stack as a main thread.</summary>
    const int WorkerStackSize = 16 << 20;
    const int Waiting = 0, Answered = 1, TimedOut = 2;

    /// <summary>Reserved once per process, announced to whichever connection becomes the session.</summary>
    static readonly Lazy<byte[]?> InitialSlab = new(ReserveInitialSlab);

    readonly SimpleRemoteTransport _transport;
    readonly IReadOnlyDictionary<string, ExecutorAddr> _bootstrap = BootstrapSymbols.Get();
    readonly HashSet<ulong> _callable;
    readonly ExecutorAddr _runProgram;
    readonly TextWriter _log;
    readonly ExecutorLimits _limits;
    readonly ExecutorToken? _token;
    readonly string _where;
    readonly bool _parentOnPipes;
    readonly byte[] _nonce = ExecutorAuthentication.NewNonce();
    readonly ExecutorAddr? _pauseIn;
    readonly ExecutorAddr _llvmDeallocate;
    readonly bool _overSocket;
    readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, TaskCompletionSource<byte[]>> _dispatches = new();
    long _nextDispatch;
    int _inFlight, _closed, _handshake;

    /// <param name="token">Required answer to the challenge; null serves without authentication.</param>
    /// <param name="peer">Who is connected, for log lines ("127.0.0.1:4711"); null for the parent's pipes.</param>
    public SimpleRemoteExecutorServer(SimpleRemoteTransport transport, TextWriter log, ExecutorLimits? limits = null,
        ExecutorToken? token = null, string? peer = null)
    {
        _transport = transport; _log = log; _token = token;
        _limits = limits ?? new ExecutorLimits();
        _where = peer is null ? "" : $"connection from {peer}: ";
        _parentOnPipes = peer is null;
        _callable = BootstrapSymbols.Functions().Values.Select(a => a.Value).ToHashSet();
        _runProgram = _bootstrap[BootstrapNames.RunProgram];
        _llvmDeallocate = _bootstrap[LlvmBootstrapNames.MemoryManagerDeallocate];
        _overSocket = peer is not null;
        LlvmExecutorServices.Dispatcher = CallController;
        if (Environment.GetEnvironmentVariable(PauseEnvironmentVariable) is { } pause && _bootstrap.TryGetValue(pause, out var at)) _pauseIn = at;
        _transport.MaxMessageSize = token is null ? _limits.MaxMessageSize : Math.Min(_limits.MaxMessageSize, ExecutorLimits.HandshakeMaxMessageSize);
    }

    /// <summary>Serves the parent's pipes until hang-up: no handshake, no token (the pipes are private).
    /// Returns the process exit status (0 clean, 1 broken stream or limit).</summary>
    public int Run() => SendSetup() ? Serve(null) : 1;

    /// <summary>Sends Setup: everything, or with a token only the challenge (no address of this process
    /// reaches a peer that has not authenticated).</summary>
    public bool SendSetup()
    {
        var map = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        IReadOnlyDictionary<string, ExecutorAddr> symbols;
        if (_token is not null)
        {
            map[ExecutorAuthentication.NonceKey] = new SpsWriter().Bytes(_nonce).ToArray();
            symbols = new Dictionary<string, ExecutorAddr> { [ExecutorAuthentication.BootstrapName] = ExecutorAuthentication.Tag };
        }
        else (map, symbols) = (FullBootstrapMap(), _bootstrap);
        var setup = new ExecutorSetupInfo(HostArchitecture.Triple, ExecutorMemory.PageSize, map, symbols);
        try { _transport.Send(SimpleRemoteOpcode.Setup, 0, default, setup.Encode()); return true; }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            Close($"cannot send setup: {e.Message}");
            return false;
        }
    }

    Dictionary<string, byte[]> FullBootstrapMap()
    {
        var map = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [ExecutorLimits.MaxMessageSizeKey] = new SpsWriter().U64(_limits.MaxMessageSize).ToArray(),
            [ExecutorLimits.MaxCallsInFlightKey] = new SpsWriter().U64((ulong)_limits.MaxCallsInFlight).ToArray(),
        };
        if (InitialSlab.Value is { } slab) map[InitialSlabKey] = slab;
        if (_parentOnPipes) map[SharedSegmentRuntime.BootstrapKey] = SharedSegmentRuntime.Offer();
        return map;
    }

    static byte[]? ReserveInitialSlab()
    {
        try
        {
            var slab = ExecutorServices.Memory.Reserve(SlabMemoryManager.DefaultSlabSize, Placement.NearLibraries);
            return new SpsWriter().Addr(slab).U64(SlabMemoryManager.DefaultSlabSize).ToArray();
        }
        catch (LinkError) { return null; } // the controller reserves on demand instead
    }

    /// <summary>
    /// The start of a socket connection: its first complete message must arrive within the handshake
    /// timeout, and with a token it must be the right answer to this connection's challenge, which is then
    /// confirmed. Returns false when the connection was closed instead (logged). Without a token the first
    /// message is returned in <paramref name="pending"/> for <see cref="Serve"/>.
    /// </summary>
    public bool Handshake(out SimpleRemoteMessage? pending)
    {
        pending = null;
        SimpleRemoteMessage? first;
        using (new Timer(_ => { if (Interlocked.CompareExchange(ref _handshake, TimedOut, Waiting) == Waiting) _transport.Dispose(); },
                   null, _limits.HandshakeTimeout, Timeout.InfiniteTimeSpan))
        {
            try { first = _transport.Receive(); }
            catch (Exception e) when (e is LinkError or IOException or ObjectDisposedException)
            {
                first = null;
                if (Volatile.Read(ref _handshake) != TimedOut) return Refuse(e.Message);
            }
        }
        if (Interlocked.CompareExchange(ref _handshake, Answered, Waiting) != Waiting)
            return Refuse($"{(_token is null ? "sent no complete message" : "did not authenticate")} within {_limits.HandshakeTimeout.TotalSeconds:0.###} s");
        if (first is not { } m)
        {
            if (_token is not null)
                _log.WriteLine($"orcsharp executor: note: {_where}a controller without OrcSharp's handshake (llvm-jitlink) needs an executor started with --insecure-no-auth, or on pipes");
            return Refuse(_token is null ? "closed before its first message" : "closed before authenticating");
        }
        _transport.MaxMessageSize = _limits.MaxMessageSize;
        if (_token is null)
        {
            pending = m;
            return true;
        }
        if (m.Opcode != SimpleRemoteOpcode.CallWrapper || m.TagAddr != ExecutorAuthentication.Tag)
            return Refuse($"sent {Describe(m)} before authenticating");
        if (ExecutorAuthentication.Verify(_token, _nonce, m.Payload) is not { } proof)
            return Refuse("authentication failed (wrong token, or an answer to another connection's challenge)");
        var full = new ExecutorSetupInfo(HostArchitecture.Triple, ExecutorMemory.PageSize, FullBootstrapMap(), _bootstrap);
        return TrySend(SimpleRemoteOpcode.Result, m.SeqNo, ExecutorServiceMessages.Ok(w => w.Bytes(proof).Bytes(full.Encode())));
    }

    static string Describe(SimpleRemoteMessage m) =>
        m.Opcode == SimpleRemoteOpcode.CallWrapper ? $"a call to {m.TagAddr}" : $"a {m.Opcode} message";

    /// <summary>Serves calls until the controller hangs up or a limit is broken; returns the exit status
    /// (0 clean, 1 broken). <paramref name="pending"/> is a first message already received.</summary>
    public int Serve(SimpleRemoteMessage? pending)
    {
        while (true)
        {
            SimpleRemoteMessage? msg = pending;
            pending = null;
            if (msg is null)
            {
                try { msg = _transport.Receive(); }
                catch (Exception e) when (e is LinkError or IOException or ObjectDisposedException)
                {
                    if (Volatile.Read(ref _closed) != 0) return 0; // this executor ended the session
                    return Close(e.Message);
                }
            }
            Interlocked.Increment(ref _received);
            if (msg is not { } m || m.Opcode == SimpleRemoteOpcode.Hangup) return EndDispatches(0, "the controller hung up");
            if (m.Opcode == SimpleRemoteOpcode.Result)
            {
                if (_dispatches.TryRemove(m.SeqNo, out var answer)) { answer.TrySetResult(m.Payload); continue; }
                return Close($"answered call {m.SeqNo}, which was never made");
            }
            if (m.Opcode != SimpleRemoteOpcode.CallWrapper) return Close($"unexpected {m.Opcode} message from the controller");
            if (!_callable.Contains(m.TagAddr.Value))
            {
                // As LLVM's executor answers a call it cannot make: an empty result (an out-of-band error).
                _log.WriteLine($"orcsharp executor: error: {_where}no wrapper function at {m.TagAddr}");
                TrySend(SimpleRemoteOpcode.Result, m.SeqNo, []);
                continue;
            }
            if (Interlocked.Increment(ref _inFlight) > _limits.MaxCallsInFlight)
                return Close($"more than {_limits.MaxCallsInFlight} calls in flight");
            var call = m;
            var worker = new Thread(() => Serve(call), WorkerStackSize) { IsBackground = true, Name = "orcsharp-call" };
            worker.Start();
        }
    }

    void Serve(SimpleRemoteMessage m)
    {
        if (m.TagAddr == _pauseIn)
        {
            _log.WriteLine($"orcsharp executor: test hook: paused in {_bootstrap.First(b => b.Value == m.TagAddr).Key} (pid {Environment.ProcessId})");
            Thread.Sleep(Timeout.Infinite);
        }
        if (m.TagAddr == _runProgram)
            ExecutorServices.ProgramExitReporter = status =>
                TrySend(SimpleRemoteOpcode.Result, m.SeqNo, ExecutorServiceMessages.Ok(w => w.I32(status)));
        byte[] result;
        try { result = WrapperFunctions.Call(m.TagAddr, m.Payload); }
        catch (LinkError e)
        {
            // An out-of-band error (a result type that cannot carry one): sent as LLVM sends it, empty.
            _log.WriteLine($"orcsharp executor: error: {_where}{e.Message}");
            result = [];
        }
        Interlocked.Decrement(ref _inFlight); // done before its answer leaves, so the controller may call again
        TrySend(SimpleRemoteOpcode.Result, m.SeqNo, result);
        if (m.TagAddr == _llvmDeallocate && _overSocket && LlvmExecutorServices.MainReturned && ExecutorServices.Memory.LiveCount == 0)
        {
            // Once the controller has been quiet for a moment: it may deallocate in more than one call.
            long seen = Interlocked.Read(ref _received);
            _endTimer ??= new Timer(_ => { if (Interlocked.Read(ref _received) == Volatile.Read(ref _endAfter)) EndSession(); });
            Volatile.Write(ref _endAfter, seen);
            _endTimer.Change(QuietBeforeEnd, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>How long LLVM's controller stays quiet after its last deallocation before this executor
    /// ends the session for it (see <see cref="EndSession"/>).</summary>
    static readonly TimeSpan QuietBeforeEnd = TimeSpan.FromMilliseconds(200);
    Timer? _endTimer;
    long _received, _endAfter = -1;

    /// <summary>
    /// LLVM 19's controller ends a socket session by closing its socket while its own reader thread still
    /// blocks in read(), so the connection never closes and both sides wait forever. Its session always ends
    /// with run_as_main and then the deallocation of everything; this executor then closes the connection
    /// once the controller has sent nothing more for a moment, so the blocked read ends at end of stream
    /// and LLVM's controller exits. (Not a Hangup: LLVM's reader would read its payload from the descriptor
    /// its main thread has closed by then, and fail with EBADF.)
    /// </summary>
    void EndSession()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        _transport.Dispose();
    }

    /// <summary>A call from JIT'd code to the controller's handler for <paramref name="tag"/>
    /// (__llvm_orc_SimpleRemoteEPC_dispatch_fn): a CallWrapper the other way, answered by a Result.</summary>
    (byte[]? Result, string? Error) CallController(ExecutorAddr tag, byte[] argument)
    {
        if (Volatile.Read(ref _closed) != 0) return (null, "the controller is gone");
        ulong seq = (ulong)Interlocked.Increment(ref _nextDispatch);
        var answer = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _dispatches[seq] = answer;
        if (!TrySend(SimpleRemoteOpcode.CallWrapper, seq, argument, tag))
        {
            _dispatches.TryRemove(seq, out _);
            return (null, "the controller is gone");
        }
        try { return (answer.Task.GetAwaiter().GetResult(), null); }
        catch (LinkError e) { return (null, e.Message); }
    }

    /// <summary>Fails the calls JIT'd code has waiting on the controller: the session is over.</summary>
    int EndDispatches(int status, string why)
    {
        foreach (var seq in _dispatches.Keys)
            if (_dispatches.TryRemove(seq, out var t)) t.TrySetException(new LinkError(why));
        return status;
    }

    bool Refuse(string reason)
    {
        Close(reason);
        return false;
    }

    /// <summary>Ends the connection once: one log line, a Hangup saying why (if the stream still works),
    /// then the stream is closed. Returns 1, the exit status of a broken session.</summary>
    public int Close(string reason)
    {
        EndDispatches(1, reason);
        if (Interlocked.Exchange(ref _closed, 1) != 0) return 1;
        _log.WriteLine($"orcsharp executor: error: {_where}{reason}; connection closed");
        try { _transport.SendHangup(reason); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        _transport.Dispose();
        return 1;
    }

    bool TrySend(SimpleRemoteOpcode op, ulong seq, ReadOnlySpan<byte> payload, ExecutorAddr tag = default)
    {
        try { _transport.Send(op, seq, tag, payload); return true; }
        catch (IOException) { return false; } // the controller is gone; the read loop sees it too
        catch (ObjectDisposedException) { return false; }
    }
}
