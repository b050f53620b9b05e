using System.Collections.Concurrent;
using System.Net.Sockets;
using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;
using static OrcSharp.Executor.SimpleRemote.ExecutorServiceMessages;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// Executor control over SimpleRemoteEPC: every service is a wrapper function in the executor, called by
/// the address it announced in its Setup message. Calls may be issued from many threads at once; each
/// waits for the Result with its sequence number. If the executor or the connection dies, every pending
/// and later call fails with one clear error (naming the signal that killed a child executor).
/// Linking itself stays here: the executor only maps memory, loads libraries and runs calls.
/// </summary>
public sealed class SimpleRemoteEPC : IExecutorControl
{
    readonly SimpleRemoteTransport _transport;
    readonly ExecutorProcess? _process;
    readonly ExecutorSetupInfo _setup;
    readonly ConcurrentDictionary<ulong, TaskCompletionSource<byte[]>> _pending = new();
    readonly Thread _reader;
    readonly List<string> _lazyLibraries = new();
    readonly Dictionary<ulong, ExecutorAddr> _loadedLibraries = new();
    readonly object _libLock = new();
    long _nextSeq;
    volatile string? _lost;
    bool _disposed;

    /// <summary>Handles of libraries not yet loaded: loaded by the next lookup, in the same round trip.</summary>
    const ulong LazyHandleBase = 0xfff0_0000_0000_0000;

    SimpleRemoteEPC(SimpleRemoteTransport transport, ExecutorProcess? process)
    {
        _transport = transport;
        _process = process;
        var first = ReceiveSetup();
        _setup = ExecutorSetupInfo.Decode(first.Payload);
        MemoryManager = new SlabMemoryManager(new RemoteMemoryAccess(this), (uint)_setup.PageSize);
        if (_setup.BootstrapMap.TryGetValue(SimpleRemoteExecutorServer.InitialSlabKey, out var slab))
        {
            var r = new SpsReader(slab);
            ((SlabMemoryManager)MemoryManager).AddReservedSlab(Placement.NearLibraries, r.Addr(), r.U64());
        }
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "orcsharp-epc-reader" };
        _reader.Start();
    }

    /// <summary>Connects over any pair of byte streams; the executor speaks first (Setup).</summary>
    public static SimpleRemoteEPC Connect(Stream fromExecutor, Stream toExecutor) => new(new SimpleRemoteTransport(fromExecutor, toExecutor), null);

    /// <summary>Starts a child executor connected by pipes.</summary>
    public static SimpleRemoteEPC Spawn(string executable, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var process = ExecutorProcess.Start(executable, arguments, environment);
        try { return new SimpleRemoteEPC(new SimpleRemoteTransport(process.FromExecutor, process.ToExecutor), process); }
        catch { process.Kill(); process.Dispose(); throw; }
    }

    /// <summary>Connects to "orcsharp executor --listen HOST:PORT".</summary>
    public static SimpleRemoteEPC ConnectTcp(string hostPort)
    {
        int colon = hostPort.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], out int port) || port is <= 0 or > 65535)
            throw new LinkError($"bad executor address '{hostPort}' (expected HOST:PORT)");
        var client = new TcpClient { NoDelay = true };
        try { client.Connect(hostPort[..colon], port); }
        catch (SocketException e) { client.Dispose(); throw new LinkError($"cannot connect to executor at {hostPort}: {e.Message}"); }
        var stream = client.GetStream();
        return new SimpleRemoteEPC(new SimpleRemoteTransport(stream, stream), null);
    }

    SimpleRemoteMessage ReceiveSetup()
    {
        SimpleRemoteMessage? m;
        try { m = _transport.Receive(); }
        catch (Exception e) when (e is IOException or LinkError) { throw new LinkError($"executor: no setup message: {e.Message}"); }
        if (m is not { Opcode: SimpleRemoteOpcode.Setup } setup)
            throw new LinkError(m is null ? $"executor: {DeathNote("closed the connection before its setup message")}" : $"executor: expected a setup message, got {m.Value.Opcode}");
        return setup;
    }

    void ReadLoop()
    {
        string reason;
        try
        {
            while (true)
            {
                var m = _transport.Receive();
                if (m is null) { reason = "closed the connection"; break; }
                var msg = m.Value;
                if (msg.Opcode == SimpleRemoteOpcode.Result)
                {
                    if (_pending.TryRemove(msg.SeqNo, out var tcs)) tcs.TrySetResult(msg.Payload);
                    continue;
                }
                reason = msg.Opcode == SimpleRemoteOpcode.Hangup ? "hung up" : $"sent an unexpected {msg.Opcode} message";
                break;
            }
        }
        catch (Exception e) when (e is IOException or LinkError or ObjectDisposedException) { reason = $"connection failed: {e.Message}"; }
        MarkLost(reason);
    }

    void MarkLost(string reason)
    {
        _lost ??= _disposed ? "closed" : DeathNote(reason);
        foreach (var seq in _pending.Keys)
            if (_pending.TryRemove(seq, out var tcs)) tcs.TrySetException(new LinkError($"executor {_lost}"));
    }

    /// <summary>How a child executor ended, if it did (waiting briefly for it), else the reason given.</summary>
    string DeathNote(string reason)
    {
        if (_process?.Wait(2000) is { } status) return ExecutorProcess.Describe(status);
        return reason;
    }

    public ExecutorStats Stats { get; } = new();

    /// <summary>Calls the wrapper function at <paramref name="function"/> and waits for its result bytes.</summary>
    public byte[] CallWrapper(ExecutorAddr function, ReadOnlySpan<byte> argument)
    {
        if (_lost is { } lost) throw new LinkError($"executor {lost}");
        ulong seq = (ulong)Interlocked.Increment(ref _nextSeq);
        var tcs = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[seq] = tcs;
        Interlocked.Increment(ref Stats.RoundTrips);
        try { _transport.Send(SimpleRemoteOpcode.CallWrapper, seq, function, argument); }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            MarkLost($"connection failed: {e.Message}");
        }
        try { return tcs.Task.GetAwaiter().GetResult(); }
        finally
        {
            Stats.BytesSent = _transport.BytesSent;
            Stats.BytesReceived = Interlocked.Read(ref _transport.BytesReceived);
        }
    }

    byte[] Call(string service, ReadOnlySpan<byte> argument)
    {
        if (!_setup.BootstrapSymbols.TryGetValue(service, out var fn)) throw new LinkError($"executor does not provide {service}");
        return CallWrapper(fn, argument);
    }

    public string TargetTriple => _setup.TargetTriple;
    public uint PageSize => (uint)_setup.PageSize;
    public IJitLinkMemoryManager MemoryManager { get; }
    public IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols => _setup.BootstrapSymbols;

    /// <summary>Recorded now, loaded by the next lookup (same round trip). The handle stands for the library.</summary>
    public ExecutorAddr LoadDylib(string path)
    {
        lock (_libLock)
        {
            _lazyLibraries.Add(path);
            return new ExecutorAddr(LazyHandleBase + (ulong)_lazyLibraries.Count - 1);
        }
    }

    public ExecutorAddr?[] LookupSymbols(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names)
    {
        lock (_libLock)
        {
            var load = new List<string>();
            var loadIndex = new Dictionary<ulong, int>();
            var search = new List<ulong>(libraries.Count);
            foreach (var lib in libraries)
            {
                if (lib.Value < LazyHandleBase || _loadedLibraries.TryGetValue(lib.Value, out _))
                {
                    search.Add(_loadedLibraries.TryGetValue(lib.Value, out var real) ? real.Value : lib.Value);
                    continue;
                }
                int lazy = checked((int)(lib.Value - LazyHandleBase));
                if (lazy >= _lazyLibraries.Count) throw new LinkError($"unknown library handle {lib}");
                if (!loadIndex.TryGetValue(lib.Value, out int idx)) { idx = load.Count; load.Add(_lazyLibraries[lazy]); loadIndex[lib.Value] = idx; }
                search.Add(LoadedInThisCall | (uint)idx);
            }
            var r = Expect(Call(BootstrapNames.Lookup, Lookup(load, search, names)), "lookup");
            var loaded = ReadAddresses(ref r);
            if (loaded.Length != load.Count) throw new LinkError("executor: lookup: wrong number of library handles");
            foreach (var (lazyHandle, idx) in loadIndex) _loadedLibraries[lazyHandle] = loaded[idx];
            var result = new ExecutorAddr?[r.Count(9)];
            if (result.Length != names.Count) throw new LinkError("executor: lookup: wrong number of results");
            for (int i = 0; i < result.Length; i++)
            {
                bool found = r.Bool();
                var a = r.Addr();
                if (found) result[i] = a;
            }
            return result;
        }
    }

    public SymbolDescription?[] DescribeSymbols(IReadOnlyList<ExecutorAddr> addresses)
    {
        var r = Expect(Call(BootstrapNames.Describe, Addresses(addresses)), "describe symbols");
        var result = new SymbolDescription?[r.Count(10)];
        for (int i = 0; i < result.Length; i++)
        {
            bool found = r.Bool();
            ulong size = r.U64();
            bool data = r.Bool();
            if (found) result[i] = new SymbolDescription(size, data);
        }
        return result;
    }

    public TlsModule CreateTlsModule(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment)
    {
        var arg = new SpsWriter(initialImage.Length + 32).Bytes(initialImage).U64(memSize).U64(alignment).ToArray();
        var r = Expect(Call(BootstrapNames.CreateTlsModule, arg), "thread-local storage");
        if (!r.Bool())
        {
            ulong required = r.U64();
            throw new StaticTlsExhaustedError(required, "the executor's glibc: cannot allocate memory in static TLS block");
        }
        return new TlsModule(r.Addr(), r.U64(), r.I64());
    }

    public void ReleaseTlsModule(TlsModule module)
    {
        var call = ((ITlsModuleHost)this).ReleaseAction(module);
        Expect(CallWrapper(call.Function, call.Argument), "release thread-local storage");
    }

    public int RunProgram(ProgramStart start)
    {
        try
        {
            var r = Expect(Call(BootstrapNames.RunProgram, Program(start)), "run program");
            int status = r.I32();
            _process?.Wait(10000); // its output is complete when it has exited
            return status;
        }
        catch (LinkError) when (_process?.Wait(2000) is { } ws && ExecutorProcess.ExitCode(ws) is { } code)
        {
            return code; // the program ended the process itself (_exit): its status is the result
        }
    }

    public void RunInitializers(IReadOnlyList<ExecutorAddr> initializers)
    {
        Expect(Call(BootstrapNames.RunInitializers, Addresses(initializers)), "run initializers");
    }

    public void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers)
    {
        var w = new SpsWriter().Addr(dsoHandle);
        WriteAddrs(w, finalizers);
        Expect(Call(BootstrapNames.RunDeinitializers, w.WrittenSpan), "run finalizers");
    }

    /// <summary>Hangs up and lets a child executor exit.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_lost is null)
            try { _transport.Send(SimpleRemoteOpcode.Hangup, 0, default, []); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        _process?.Dispose();
        _transport.Dispose();
    }

    /// <summary>Memory services by wrapper call: reserve and release, one finalize per allocation, one
    /// deallocate per batch. Working memory is local; finalize carries the bytes.</summary>
    sealed class RemoteMemoryAccess(SimpleRemoteEPC epc) : IExecutorMemoryAccess
    {
        public bool WorkingMemoryIsTarget => false;

        public ExecutorAddr Reserve(ulong size, Placement placement) =>
            Expect(epc.Call(BootstrapNames.MemReserve, ExecutorServiceMessages.Reserve(size, placement)), "reserve memory").Addr();

        public Span<byte> CommitWorkingMemory(ExecutorAddr addr, ulong size, bool populate) =>
            throw new InvalidOperationException("remote memory has no in-place working memory");

        public ExecutorAddr Finalize(TargetProcess.FinalizeRequest request) =>
            Expect(epc.Call(BootstrapNames.MemFinalize, ExecutorServiceMessages.Finalize(request)), "finalize").Addr();

        public void Deallocate(ReadOnlySpan<ExecutorAddr> handles) =>
            Expect(epc.Call(BootstrapNames.MemDeallocate, Addresses(handles.ToArray())), "deallocate");

        public void Release(ExecutorAddr addr, ulong size) =>
            Expect(epc.Call(BootstrapNames.MemRelease, ExecutorServiceMessages.Release(addr, size)), "release memory");
    }
}
