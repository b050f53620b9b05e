using System.Collections.Concurrent;
using System.Net.Sockets;
using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;
using static OrcSharp.Executor.SimpleRemote.ExecutorServiceMessages;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>How a controller talks to a remote executor: the token for TCP, and how long it waits.</summary>
public sealed record RemoteExecutorOptions
{
    /// <summary>Answers the executor's challenge. When set, the executor must also prove it knows the token,
    /// so an executor that does not authenticate is refused.</summary>
    public ExecutorToken? Token { get; init; }
    /// <summary>From connecting to the executor's Setup message.</summary>
    public TimeSpan SetupTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>For each service call (lookup, finalize, ...). Calls that run JIT'd code (initializers,
    /// finalizers, the program) have no limit, as a native program has none.</summary>
    public TimeSpan ServiceTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Executor control over SimpleRemoteEPC: every service is a wrapper function in the executor, called by
/// the address it announced in its Setup message. Calls may be issued from many threads at once, up to the
/// executor's announced limit; each waits for the Result with its sequence number. It never waits forever:
/// Setup and every service call have a time limit, and a Result for a call never made ends the connection.
/// If the executor or the connection dies, every pending and later call fails with one clear error
/// (naming the signal that killed a child executor), and a child executor is never left behind.
/// Linking itself stays here: the executor only maps memory, loads libraries and runs calls.
/// </summary>
public sealed class SimpleRemoteEPC : IExecutorControl
{
    readonly SimpleRemoteTransport _transport;
    readonly ExecutorProcess? _process;
    readonly RemoteExecutorOptions _options;
    ExecutorSetupInfo _setup;
    readonly ConcurrentDictionary<ulong, TaskCompletionSource<byte[]>> _pending = new();
    readonly Thread _reader;
    readonly SemaphoreSlim? _callSlots;
    readonly List<string> _lazyLibraries = new();
    readonly Dictionary<string, ExecutorAddr> _lazyHandles = new(StringComparer.Ordinal);
    readonly Dictionary<ulong, ExecutorAddr> _loadedLibraries = new();
    readonly object _libLock = new();
    /// <summary>Set when the executor offers only LLVM's standard services (llvm-jitlink-executor).</summary>
    readonly LlvmStandardServices? _llvm;
    readonly ConcurrentDictionary<ulong, Func<byte[], byte[]>> _dispatchHandlers = new();
    long _nextSeq;
    string? _lost;
    volatile bool _disposed;

    /// <summary>Handles of libraries not yet loaded: loaded by the next lookup, in the same round trip.</summary>
    const ulong LazyHandleBase = 0xfff0_0000_0000_0000;
    /// <summary>Services that run JIT'd code, for as long as it runs.</summary>
    static readonly HashSet<string> RunsJitCode = [BootstrapNames.RunProgram, BootstrapNames.RunInitializers, BootstrapNames.RunDeinitializers,
        BootstrapNames.RunMain, BootstrapNames.CallFunction];

    SimpleRemoteEPC(SimpleRemoteTransport transport, ExecutorProcess? process, RemoteExecutorOptions? options)
    {
        _transport = transport;
        _process = process;
        _options = options ?? new RemoteExecutorOptions();
        _setup = ReceiveSetup();
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "orcsharp-epc-reader" };
        _reader.Start();
        try
        {
            if (_setup.BootstrapMap.TryGetValue(ExecutorAuthentication.NonceKey, out var nonce)) Authenticate(nonce);
            else if (_options.Token is not null)
                throw new LinkError("executor does not authenticate, so it cannot prove it knows the token (give no token to use an executor started with --insecure-no-auth)");
            if (_setup.BootstrapMap.TryGetValue(ExecutorLimits.MaxCallsInFlightKey, out var calls))
                _callSlots = new SemaphoreSlim((int)Math.Clamp(new SpsReader(calls).U64(), 1, int.MaxValue));
            if (!_setup.BootstrapSymbols.ContainsKey(BootstrapNames.Lookup))
                _llvm = new LlvmStandardServices(_setup.BootstrapSymbols, (f, a, runsJitCode, what) => CallWrapper(f, a, runsJitCode ? null : _options.ServiceTimeout, what));
            var memory = _llvm is not null
                ? new SlabMemoryManager(_llvm, (uint)_setup.PageSize, reservationPerAllocation: true)
                : new SlabMemoryManager(new RemoteMemoryAccess(this), (uint)_setup.PageSize);
            if (_setup.BootstrapMap.TryGetValue(SimpleRemoteExecutorServer.InitialSlabKey, out var slab))
            {
                var r = new SpsReader(slab);
                memory.AddReservedSlab(Placement.NearLibraries, r.Addr(), r.U64());
            }
            MemoryManager = memory;
        }
        catch (Exception e) when (e is LinkError or IOException)
        {
            Abort();
            // The reader's "malformed" errors here are about the bootstrap map's entries.
            if (e.Message.StartsWith("malformed", StringComparison.Ordinal)) throw new LinkError($"executor: bad setup message: {e.Message}");
            throw;
        }
    }

    /// <summary>Connects over any pair of byte streams; the executor speaks first (Setup).</summary>
    public static SimpleRemoteEPC Connect(Stream fromExecutor, Stream toExecutor, RemoteExecutorOptions? options = null) =>
        new(new SimpleRemoteTransport(fromExecutor, toExecutor), null, options);

    /// <summary>Starts a child executor connected by pipes.</summary>
    public static SimpleRemoteEPC Spawn(string executable, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        RemoteExecutorOptions? options = null)
    {
        var process = ExecutorProcess.Start(executable, arguments, environment);
        return Connect(process, options);
    }

    /// <summary>Connects to a child executor already started; it is killed if that fails.</summary>
    internal static SimpleRemoteEPC Connect(ExecutorProcess process, RemoteExecutorOptions? options)
    {
        try { return new SimpleRemoteEPC(new SimpleRemoteTransport(process.FromExecutor, process.ToExecutor), process, options); }
        catch { process.Kill(); process.Dispose(); throw; }
    }

    /// <summary>Starts a child executor as llvm-jitlink -oop-executor does: "EXECUTABLE filedescs=R,W" with the
    /// pipes on descriptors R and W, and this process's stdin, stdout and stderr for the program. Works with
    /// LLVM's llvm-jitlink-executor and with orcsharp.</summary>
    public static SimpleRemoteEPC SpawnWithFileDescriptors(string executable, RemoteExecutorOptions? options = null)
    {
        var process = ExecutorProcess.StartWithFileDescriptors(executable);
        try { return new SimpleRemoteEPC(new SimpleRemoteTransport(process.FromExecutor, process.ToExecutor), process, options); }
        catch { process.Kill(); process.Dispose(); throw; }
    }

    /// <summary>Connects to "orcsharp executor --listen ADDRESS": HOST:PORT over TCP (authenticating with
    /// the options' token when the executor asks) or unix:PATH.</summary>
    public static SimpleRemoteEPC Connect(ExecutorEndpoint endpoint, RemoteExecutorOptions? options = null)
    {
        options ??= new RemoteExecutorOptions();
        var socket = endpoint.IsUnix ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using var cancel = new CancellationTokenSource(options.SetupTimeout);
            if (endpoint.UnixPath is { } path) socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel.Token).AsTask().GetAwaiter().GetResult();
            else
            {
                socket.ConnectAsync(endpoint.Host!, endpoint.Port, cancel.Token).AsTask().GetAwaiter().GetResult();
                ExecutorEndpoint.ConfigureTcp(socket);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            string why = e is OperationCanceledException ? $"no answer within {Seconds(options.SetupTimeout)} s" : e.Message;
            throw new LinkError($"cannot connect to executor at {endpoint}: {why}");
        }
        var stream = new NetworkStream(socket, ownsSocket: true);
        return new SimpleRemoteEPC(new SimpleRemoteTransport(stream, stream), null, options);
    }

    /// <summary>Whether segment bytes go to the executor through shared memory (<see cref="SharedSegmentMemory"/>)
    /// rather than in the finalize message: on by default for a child executor on this machine that offers it.
    /// Setting it has no effect where it is not offered.</summary>
    public bool UseSharedMemory { get; set; } = true;

    /// <summary>The process id of a child executor; null over a socket.</summary>
    public int? ExecutorProcessId => _process?.Id;

    static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

    ExecutorSetupInfo ReceiveSetup()
    {
        int state = 0; // 0 waiting, 1 received, 2 timed out
        SimpleRemoteMessage? m = null;
        string? error = null;
        using (new Timer(_ => { if (Interlocked.CompareExchange(ref state, 2, 0) == 0) Abort(); }, null, _options.SetupTimeout, Timeout.InfiniteTimeSpan))
        {
            try { m = _transport.Receive(); }
            catch (Exception e) when (e is IOException or LinkError or ObjectDisposedException) { error = e.Message; }
        }
        if (Interlocked.CompareExchange(ref state, 1, 0) != 0)
            throw new LinkError($"executor sent no setup message within {Seconds(_options.SetupTimeout)} s");
        if (error is not null) { Abort(); throw new LinkError($"executor: no setup message: {PeerText.OneLine(error)}"); }
        if (m is not { Opcode: SimpleRemoteOpcode.Setup } setup)
        {
            string why = m is null ? DeathNote("closed the connection before its setup message")
                : m.Value.Opcode == SimpleRemoteOpcode.Hangup && SimpleRemoteTransport.HangupError(m.Value.Payload) is { } e ? $"hung up: {PeerText.OneLine(e)}"
                : $"sent a {m.Value.Opcode} message instead of its setup";
            Abort();
            throw new LinkError($"executor {why}");
        }
        try
        {
            var info = ExecutorSetupInfo.Decode(setup.Payload);
            Check(info);
            return info;
        }
        catch (LinkError e) { Abort(); throw new LinkError($"executor: bad setup message: {e.Message}"); }
    }

    /// <summary>What the rest of the controller relies on: a printable triple, a sane page size.</summary>
    static void Check(ExecutorSetupInfo info)
    {
        if (info.TargetTriple.Length is 0 or > 100 || info.TargetTriple.Any(c => c is <= ' ' or > '~'))
            throw new LinkError($"target triple '{PeerText.OneLine(info.TargetTriple, 100)}' is not a target triple");
        if (info.PageSize is < 4096 or > (1 << 20) || (info.PageSize & (info.PageSize - 1)) != 0)
            throw new LinkError($"page size {info.PageSize} is not a power of two from 4 KiB to 1 MiB");
    }

    /// <summary>Answers the executor's challenge, checks its proof, and takes the full Setup it then sends.</summary>
    void Authenticate(byte[] nonceField)
    {
        if (_options.Token is not { } token)
            throw new LinkError("executor requires authentication: give its token with --token-file FILE or ORCSHARP_EXECUTOR_TOKEN");
        var nonce = new SpsReader(nonceField).Bytes().ToArray();
        var answer = ExecutorAuthentication.Answer(token, nonce, out var controllerNonce);
        var r = Expect(CallWrapper(ExecutorAuthentication.Tag, answer, _options.ServiceTimeout, "authentication"), "authentication");
        var proof = r.Bytes().ToArray();
        var full = r.Bytes().ToArray();
        if (!ExecutorAuthentication.CheckProof(token, nonce, controllerNonce, proof))
            throw new LinkError("executor could not prove that it knows the token");
        ExecutorSetupInfo info;
        try
        {
            info = ExecutorSetupInfo.Decode(full);
            Check(info);
        }
        catch (LinkError e) { throw new LinkError($"executor: bad setup message: {e.Message}"); }
        _setup = info;
    }

    void ReadLoop()
    {
        string reason;
        bool violation = false;
        try
        {
            while (true)
            {
                var m = _transport.Receive();
                if (m is null) { reason = "closed the connection"; break; }
                var msg = m.Value;
                if (msg.Opcode == SimpleRemoteOpcode.Result)
                {
                    if (_pending.TryRemove(msg.SeqNo, out var tcs)) { tcs.TrySetResult(msg.Payload); continue; }
                    reason = $"answered call {msg.SeqNo}, which was never made";
                    violation = true;
                    break;
                }
                if (msg.Opcode == SimpleRemoteOpcode.CallWrapper)
                {
                    var call = msg;
                    ThreadPool.QueueUserWorkItem(_ => AnswerDispatch(call));
                    continue;
                }
                if (msg.Opcode == SimpleRemoteOpcode.Hangup)
                    reason = SimpleRemoteTransport.HangupError(msg.Payload) is { } e ? $"hung up: {PeerText.OneLine(e)}" : "hung up";
                else
                {
                    reason = $"sent an unexpected {msg.Opcode} message";
                    violation = true;
                }
                break;
            }
        }
        catch (Exception e) when (e is IOException or LinkError or ObjectDisposedException)
        {
            reason = $"connection failed: {PeerText.OneLine(e.Message)}";
        }
        MarkLost(reason, abort: violation);
    }

    /// <summary>The connection is over: every pending and later call fails with the reason. With
    /// <paramref name="abort"/> (a broken protocol, a time limit) the connection is cut and a child
    /// executor killed; otherwise the executor ended it and a child's fate is part of the reason.</summary>
    void MarkLost(string reason, bool abort)
    {
        string note = _disposed ? "closed" : abort ? reason : DeathNote(reason);
        Interlocked.CompareExchange(ref _lost, note, null);
        foreach (var seq in _pending.Keys)
            if (_pending.TryRemove(seq, out var tcs)) tcs.TrySetException(new ExecutorLostException(_lost!));
        if (abort) Abort();
    }

    /// <summary>Cuts the connection: a child executor is killed (which also ends its pipes), a socket closed.</summary>
    void Abort()
    {
        _process?.Kill();
        _transport.Dispose();
    }

    /// <summary>How a child executor ended, if it did (waiting briefly for it), else the reason given.</summary>
    string DeathNote(string reason)
    {
        if (_process?.Wait(2000) is { } status) return ExecutorProcess.Describe(status);
        return reason;
    }

    public ExecutorStats Stats { get; } = new();

    /// <summary>
    /// Registers the controller-side handler for calls JIT'd code makes through the executor's
    /// __llvm_orc_SimpleRemoteEPC_dispatch_fn with <paramref name="tag"/> (by convention the address of a
    /// tag symbol the JIT'd code was linked against): it gets the call's argument bytes and returns the result
    /// bytes (SPS-encoded as the two sides agree). It runs on a thread-pool thread; an exception or an
    /// unknown tag answers with an empty result (the out-of-band error LLVM sends). Returns false if the
    /// tag already has a handler.
    /// </summary>
    public bool RegisterDispatchHandler(ExecutorAddr tag, Func<byte[], byte[]> handler) => _dispatchHandlers.TryAdd(tag.Value, handler);

    /// <summary>Removes the handler for <paramref name="tag"/>; later calls with it get an empty result.</summary>
    public bool RemoveDispatchHandler(ExecutorAddr tag) => _dispatchHandlers.TryRemove(tag.Value, out _);

    void AnswerDispatch(SimpleRemoteMessage call)
    {
        byte[] result = [];
        if (_dispatchHandlers.TryGetValue(call.TagAddr.Value, out var handler))
            try { result = handler(call.Payload); }
            catch (Exception) { result = []; } // the JIT'd caller sees an out-of-band error
        try { _transport.Send(SimpleRemoteOpcode.Result, call.SeqNo, default, result); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }

    /// <summary>Calls the wrapper function at <paramref name="function"/> and waits for its result bytes,
    /// for as long as it takes (it may run JIT'd code).</summary>
    public byte[] CallWrapper(ExecutorAddr function, ReadOnlySpan<byte> argument) => CallWrapper(function, argument, null, "");

    /// <summary>A call that must be answered within <paramref name="timeout"/> (null: no limit); past it the
    /// executor is given up on, as a peer that does not answer may never do so.</summary>
    byte[] CallWrapper(ExecutorAddr function, ReadOnlySpan<byte> argument, TimeSpan? timeout, string what)
    {
        if (Volatile.Read(ref _lost) is { } lost) throw new ExecutorLostException(lost);
        _callSlots?.Wait();
        try
        {
            ulong seq = (ulong)Interlocked.Increment(ref _nextSeq);
            var tcs = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[seq] = tcs;
            // Lost meanwhile: MarkLost may have missed this call.
            if (Volatile.Read(ref _lost) is { } gone && _pending.TryRemove(seq, out _)) throw new ExecutorLostException(gone);
            Interlocked.Increment(ref Stats.RoundTrips);
            using var timer = timeout is { } t
                ? new Timer(_ => { if (_pending.ContainsKey(seq)) MarkLost($"did not answer {what} within {Seconds(t)} s", abort: true); }, null, t, Timeout.InfiniteTimeSpan)
                : null;
            try { _transport.Send(SimpleRemoteOpcode.CallWrapper, seq, function, argument); }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                MarkLost($"connection failed: {PeerText.OneLine(e.Message)}", abort: false);
            }
            return tcs.Task.GetAwaiter().GetResult();
        }
        finally
        {
            _callSlots?.Release();
            Stats.BytesSent = _transport.BytesSent;
            Stats.BytesReceived = Interlocked.Read(ref _transport.BytesReceived);
        }
    }

    byte[] Call(string service, ReadOnlySpan<byte> argument)
    {
        if (!_setup.BootstrapSymbols.TryGetValue(service, out var fn)) throw new LinkError($"executor does not provide {service}");
        return CallWrapper(fn, argument, RunsJitCode.Contains(service) ? null : _options.ServiceTimeout, service);
    }

    public string TargetTriple => _setup.TargetTriple;
    public uint PageSize => (uint)_setup.PageSize;
    public IJitLinkMemoryManager MemoryManager { get; }
    public IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols => _setup.BootstrapSymbols;

    /// <summary>Recorded now, loaded by the next lookup (same round trip). The handle stands for the library;
    /// a path asked for again gets the same handle, so a host that adds libraries to JITDylib after
    /// JITDylib keeps one entry per library.</summary>
    public ExecutorAddr LoadDylib(string path)
    {
        lock (_libLock)
        {
            if (!_lazyHandles.TryGetValue(path, out var handle))
            {
                _lazyLibraries.Add(path);
                _lazyHandles[path] = handle = new ExecutorAddr(LazyHandleBase + (ulong)_lazyLibraries.Count - 1);
            }
            return handle;
        }
    }

    public ExecutorAddr?[] LookupSymbols(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names)
    {
        if (_llvm is not null) return LookupSeparately(_llvm, libraries, names);
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

    /// <summary>LLVM's services: each library is opened by its own call, then searched by one call per
    /// library for the names not found yet.</summary>
    ExecutorAddr?[] LookupSeparately(LlvmStandardServices llvm, IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names)
    {
        lock (_libLock)
        {
            var result = new ExecutorAddr?[names.Count];
            var missing = Enumerable.Range(0, names.Count).ToList();
            foreach (var lib in libraries)
            {
                if (missing.Count == 0) break;
                var handle = lib;
                if (lib.Value >= LazyHandleBase && !_loadedLibraries.TryGetValue(lib.Value, out handle))
                {
                    int lazy = checked((int)(lib.Value - LazyHandleBase));
                    if (lazy >= _lazyLibraries.Count) throw new LinkError($"unknown library handle {lib}");
                    _loadedLibraries[lib.Value] = handle = llvm.Open(_lazyLibraries[lazy]);
                }
                var found = llvm.Lookup(handle, missing.Select(i => names[i]).ToList());
                var still = new List<int>();
                for (int k = 0; k < found.Length; k++)
                    if (found[k] is { } a) result[missing[k]] = a; else still.Add(missing[k]);
                missing = still;
            }
            return result;
        }
    }

    /// <summary>The error for an OrcSharp service that LLVM's executor lacks.</summary>
    static LinkError Missing(string service, string what) =>
        new($"{what} needs the executor service {service}, which this executor (LLVM's standard services only) does not provide");

    public SymbolDescription?[] DescribeSymbols(IReadOnlyList<ExecutorAddr> addresses)
    {
        if (_llvm is not null) throw Missing(BootstrapNames.Describe, "a copy relocation (a non-PIC reference to library data)");
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
        if (_llvm is not null) throw Missing(BootstrapNames.CreateTlsModule, "thread-local storage in JIT'd code");
        var arg = new SpsWriter(initialImage.Length + 32).Bytes(initialImage).U64(memSize).U64(alignment).ToArray();
        var r = Expect(Call(BootstrapNames.CreateTlsModule, arg), "thread-local storage");
        if (!r.Bool())
        {
            ulong required = r.U64();
            throw new StaticTlsExhaustedError(required, "the executor's glibc: cannot allocate memory in static TLS block");
        }
        return new TlsModule(r.Addr(), r.U64(), r.I64());
    }

    public TlsImports ImportThreadLocals(IReadOnlyList<string> names)
    {
        if (_llvm is not null) throw Missing(BootstrapNames.ImportThreadLocals, $"the thread-local {names[0]} of a shared library");
        var r = Expect(Call(BootstrapNames.ImportThreadLocals, TargetProcess.TlsModuleRuntime.EncodeImportArgument(names)), "thread-locals of shared libraries");
        return TargetProcess.TlsModuleRuntime.DecodeImportResult(ref r, names.Count);
    }

    public void ReleaseTlsModule(TlsModule module)
    {
        var call = ((ITlsModuleHost)this).ReleaseAction(module);
        ExpectSuccess(CallWrapper(call.Function, call.Argument, _options.ServiceTimeout, BootstrapNames.ReleaseTlsModule), "release thread-local storage");
    }

    public int RunProgram(ProgramStart start)
    {
        if (_llvm is not null) return RunWithStandardServices(_llvm, start);
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
        catch (LinkError e) when (_process?.Wait(0) is { } ws && ExecutorProcess.TerminatingSignal(ws) is { } signal)
        {
            throw new ProgramTerminatedError(e.Message, signal); // it crashed, or was killed
        }
    }

    public int RunMain(ExecutorAddr main, IReadOnlyList<string> arguments)
    {
        var w = new SpsWriter(256).Addr(main).U64((ulong)arguments.Count);
        foreach (var a in arguments) w.String(a);
        return RunsCode(() => Expect(Call(BootstrapNames.RunMain, w.WrittenSpan), "run main").I32());
    }

    public ulong CallFunction(ExecutorAddr function, IReadOnlyList<ulong> arguments)
    {
        var w = new SpsWriter(64).Addr(function).U64((ulong)arguments.Count);
        foreach (var a in arguments) w.U64(a);
        return RunsCode(() => Expect(Call(BootstrapNames.CallFunction, w.WrittenSpan), "call function").U64());
    }

    /// <summary>A call that runs JIT'd code which may crash its executor: that is reported as the
    /// program's end by a signal, as <see cref="RunProgram"/> reports it.</summary>
    T RunsCode<T>(Func<T> call)
    {
        bool alive = Volatile.Read(ref _lost) is null; // lost before: the usual error
        try { return call(); }
        catch (ExecutorLostException e) when (alive && _process?.Wait(2000) is { } ws && ExecutorProcess.TerminatingSignal(ws) is { } signal)
        {
            throw new ProgramTerminatedError(e.Message, signal);
        }
    }

    /// <summary>
    /// A program on LLVM's services: each initializer by run_as_void_function (without dlopen's argc, argv,
    /// envp), main by run_as_main, then, emulating its return into exit, the finalizers by
    /// run_as_void_function and exit(status) by run_as_int_function, which runs the atexit handlers and
    /// flushes stdio as a native exit does (the handlers run after the finalizers here, not before). A child
    /// executor's own exit status is then the program's; over a socket it is main's result.
    /// </summary>
    int RunWithStandardServices(LlvmStandardServices llvm, ProgramStart start)
    {
        var exit = LookupSymbols([LoadDylib("")], ["exit"])[0]
            ?? throw new LinkError("exit not found in LLVM's executor process");
        try
        {
            foreach (var init in start.Initializers) llvm.RunVoid(init, "run initializer");
            int status = (int)llvm.RunMain(start.Main, start.Arguments);
            foreach (var fini in start.Finalizers) llvm.RunVoid(fini, "run finalizer");
            try { llvm.RunInt(exit, status, "exit"); }
            catch (LinkError) when (_process is null) { } // the executor is gone: exit did its work
            return _process?.Wait(10000) is { } ws && ExecutorProcess.ExitCode(ws) is { } code ? code : status;
        }
        catch (LinkError) when (_process?.Wait(2000) is { } ws && ExecutorProcess.ExitCode(ws) is { } code)
        {
            return code; // the program ended the process itself (exit, _exit)
        }
        catch (LinkError e) when (_process?.Wait(0) is { } ws && ExecutorProcess.TerminatingSignal(ws) is { } signal)
        {
            throw new ProgramTerminatedError(e.Message, signal);
        }
    }

    public void RunInitializers(IReadOnlyList<ExecutorAddr> initializers)
    {
        if (_llvm is { } llvm)
        {
            foreach (var init in initializers) llvm.RunVoid(init, "run initializer");
            return;
        }
        ExpectSuccess(Call(BootstrapNames.RunInitializers, Addresses(initializers)), "run initializers");
    }

    public void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers)
    {
        if (_llvm is { } llvm)
        {
            // __cxa_finalize(dsoHandle) would need a pointer argument, which run_as_int_function cannot pass.
            foreach (var fini in finalizers) llvm.RunVoid(fini, "run finalizer");
            return;
        }
        var w = new SpsWriter().Addr(dsoHandle);
        WriteAddrs(w, finalizers);
        ExpectSuccess(Call(BootstrapNames.RunDeinitializers, w.WrittenSpan), "run finalizers");
    }

    /// <summary>Hangs up and lets a child executor exit.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (Volatile.Read(ref _lost) is null)
            try { _transport.SendHangup(null); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
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

        public Span<byte> CommitWorkingMemory(ExecutorAddr addr, ulong size) =>
            throw new InvalidOperationException("remote memory has no in-place working memory");

        public ISharedWorkingMemory? CreateSharedWorkingMemory(ulong size) =>
            epc.UseSharedMemory && epc._process is not null && SharedSegmentMemory.IsOffered(epc._setup, out var map)
                ? SharedSegmentMemory.TryCreate(size, map) : null;

        public ExecutorAddr Finalize(TargetProcess.FinalizeRequest request) =>
            Expect(epc.Call(BootstrapNames.MemFinalize, ExecutorServiceMessages.Finalize(request)), "finalize").Addr();

        public void Deallocate(ReadOnlySpan<ExecutorAddr> handles) =>
            ExpectSuccess(epc.Call(BootstrapNames.MemDeallocate, Addresses(handles.ToArray())), "deallocate");

        public void Release(ExecutorAddr addr, ulong size) =>
            ExpectSuccess(epc.Call(BootstrapNames.MemRelease, ExecutorServiceMessages.Release(addr, size)), "release memory");
    }
}
