using OrcSharp.Executor.TargetProcess;
using OrcSharp.Memory;
using OrcSharp.Shared;
using static OrcSharp.Executor.SimpleRemote.ExecutorServiceMessages;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// The controller's side of LLVM 19's standard executor services (<see cref="LlvmBootstrapNames"/>), used
/// when the executor announces no OrcSharp services (llvm-jitlink-executor): one reservation per link,
/// finalize and deallocate by the reservation's base, open and lookup as separate calls, code run by
/// run_as_void_function and run_as_main. Encodings are LLVM's (see <see cref="LlvmBootstrapNames"/>).
/// </summary>
sealed class LlvmStandardServices : IExecutorMemoryAccess
{
    readonly Func<ExecutorAddr, byte[], bool, string, byte[]> _call;
    readonly ExecutorAddr _memory, _reserve, _finalize, _deallocate, _dylibs, _open, _lookup, _runMain, _runVoid, _runInt;

    /// <param name="call">Calls a wrapper function: (function, argument, runs JIT'd code, what) -> result.</param>
    public LlvmStandardServices(IReadOnlyDictionary<string, ExecutorAddr> symbols, Func<ExecutorAddr, byte[], bool, string, byte[]> call)
    {
        _call = call;
        ExecutorAddr Need(string name) => symbols.TryGetValue(name, out var a) ? a
            : throw new LinkError($"executor provides neither OrcSharp's services ({BootstrapNames.Lookup}) nor LLVM's ({name})");
        (_memory, _reserve, _finalize, _deallocate) = (Need(LlvmBootstrapNames.MemoryManagerInstance), Need(LlvmBootstrapNames.MemoryManagerReserve),
            Need(LlvmBootstrapNames.MemoryManagerFinalize), Need(LlvmBootstrapNames.MemoryManagerDeallocate));
        (_dylibs, _open, _lookup) = (Need(LlvmBootstrapNames.DylibManagerInstance), Need(LlvmBootstrapNames.DylibManagerOpen), Need(LlvmBootstrapNames.DylibManagerLookup));
        (_runMain, _runVoid, _runInt) = (Need(LlvmBootstrapNames.RunAsMain), Need(LlvmBootstrapNames.RunAsVoidFunction), Need(LlvmBootstrapNames.RunAsIntFunction));
    }

    // --- memory (one reservation per link: SlabMemoryManager with reservationPerAllocation) ---

    public bool WorkingMemoryIsTarget => false;

    public ExecutorAddr Reserve(ulong size, Placement placement)
    {
        if (placement == Placement.Low32)
            throw new LinkError($"code built without -fPIC (memory below 2 GiB) needs the executor service {BootstrapNames.MemReserve}, which this executor (LLVM's standard services only) does not provide; build with -fPIC");
        return Expect(_call(_reserve, new SpsWriter(16).Addr(_memory).U64(size).ToArray(), false, "reserve memory"), "reserve memory").Addr();
    }

    public Span<byte> CommitWorkingMemory(ExecutorAddr addr, ulong size) =>
        throw new InvalidOperationException("remote memory has no in-place working memory");

    /// <summary>Segment flags on the wire: read, write, exec, finalize lifetime.</summary>
    const byte FinalizeBit = 8;

    public ExecutorAddr Finalize(FinalizeRequest request)
    {
        int bytes = 64;
        foreach (var s in request.Segments) bytes += 32 + s.Content.Length;
        var w = new SpsWriter(bytes).Addr(_memory).U64((ulong)request.Segments.Count);
        var lowest = new ExecutorAddr(ulong.MaxValue);
        foreach (var s in request.Segments)
        {
            byte flags = (byte)((byte)s.Prot | (s.Lifetime == MemLifetime.Finalize ? FinalizeBit : 0));
            w.U8(flags).Addr(s.Address).U64(s.Size).Bytes(s.Content.Span);
            if (s.Address < lowest) lowest = s.Address;
        }
        w.U64((ulong)request.Actions.Count);
        foreach (var a in request.Actions)
        {
            w.Addr(a.Finalize.Function).Bytes(a.Finalize.Argument ?? []);
            w.Addr(a.Dealloc?.Function ?? default).Bytes(a.Dealloc?.Argument ?? []);
        }
        ExpectSuccess(_call(_finalize, w.ToArray(), false, "finalize"), "finalize");
        return lowest; // LLVM's executor knows the allocation by its base, the reservation's start
    }

    public void Deallocate(ReadOnlySpan<ExecutorAddr> handles)
    {
        var w = new SpsWriter(16 + 8 * handles.Length).Addr(_memory).U64((ulong)handles.Length);
        foreach (var h in handles) w.Addr(h);
        ExpectSuccess(_call(_deallocate, w.ToArray(), false, "deallocate"), "deallocate");
    }

    /// <summary>An abandoned link: LLVM's deallocate releases a reservation that was never finalized.</summary>
    public void Release(ExecutorAddr addr, ulong size) => Deallocate([addr]);

    // --- libraries ---

    /// <summary>dlopen in the executor; an empty path is the process itself.</summary>
    public ExecutorAddr Open(string path) =>
        Expect(_call(_open, new SpsWriter(32 + path.Length).Addr(_dylibs).String(path).U64(0).ToArray(), false, "open library"), $"open {path}").Addr();

    /// <summary>One library, every name weakly referenced (a name it lacks comes back null).</summary>
    public ExecutorAddr?[] Lookup(ExecutorAddr library, IReadOnlyList<string> names)
    {
        var w = new SpsWriter(32 + names.Count * 24).Addr(_dylibs).Addr(library).U64((ulong)names.Count);
        foreach (var n in names) w.String(n).Bool(false);
        var r = Expect(_call(_lookup, w.ToArray(), false, "lookup"), "lookup");
        var result = new ExecutorAddr?[r.Count(10)];
        if (result.Length != names.Count) throw new LinkError("executor: lookup: wrong number of results");
        for (int i = 0; i < result.Length; i++)
        {
            var a = r.Addr();
            r.U8(); r.U8(); // flags, target flags
            if (!a.IsNull) result[i] = a;
        }
        return result;
    }

    // --- running code ---

    public int RunVoid(ExecutorAddr function, string what) => Int32(_call(_runVoid, new SpsWriter(8).Addr(function).ToArray(), true, what), what);

    public int RunInt(ExecutorAddr function, int argument, string what) =>
        Int32(_call(_runInt, new SpsWriter(12).Addr(function).I32(argument).ToArray(), true, what), what);

    public long RunMain(ExecutorAddr main, IReadOnlyList<string> arguments)
    {
        var w = new SpsWriter(64).Addr(main).U64((ulong)arguments.Count);
        foreach (var a in arguments) w.String(a);
        var result = _call(_runMain, w.ToArray(), true, "run main");
        if (result.Length != 8) throw new LinkError("executor: run main failed (no result)");
        return new SpsReader(result).I64();
    }

    static int Int32(byte[] result, string what) =>
        result.Length == 4 ? new SpsReader(result).I32() : throw new LinkError($"executor: {what} failed (no result)");
}
