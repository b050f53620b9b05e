using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// LLVM 19's executor services (<see cref="LlvmBootstrapNames"/>) with LLVM's SPS signatures, so LLVM's
/// controller (llvm-jitlink -oop-executor) can drive this executor: the memory manager (one reservation per
/// link; finalize copies, protects and runs actions; deallocate by reservation base), the dylib manager
/// (open, lookup), run_as_main/void/int, memory writes, eh-frame and GDB registration. Each is served by the
/// same runtime as OrcSharp's own services (<see cref="ExecutorServices"/>) and checked the same way: only
/// memory this executor reserved is written, only finalized code or library functions are called.
/// </summary>
public static unsafe class LlvmExecutorServices
{
    /// <summary>The instance addresses LLVM's services take as their first argument: tokens, checked.</summary>
    public static readonly ExecutorAddr MemoryManagerInstance = Token(), DylibManagerInstance = Token();

    static ExecutorAddr Token() => new((ulong)NativeMemory.AllocZeroed(16));

    /// <summary>Set while run_as_main has returned: LLVM's controller deallocates next and then ends the
    /// session (see <see cref="SimpleRemote.SimpleRemoteExecutorServer"/>).</summary>
    public static volatile bool MainReturned;

    delegate void Handler(ref SpsReader r, SpsWriter result);

    /// <summary>Decodes, runs, and answers with an SPSExpected (<paramref name="expected"/>) or SPSError.</summary>
    static CWrapperFunctionResult Serve(byte* arg, nuint size, bool expected, Handler handler)
    {
        var value = new SpsWriter();
        string? error = null;
        try
        {
            var r = new SpsReader(new ReadOnlySpan<byte>(arg, checked((int)size)));
            handler(ref r, value);
        }
        catch (LinkError e) { error = e.Message; }
        catch (Exception e) { error = $"executor: internal error: {e.GetType().Name}: {e.Message}"; }
        var w = new SpsWriter(value.Length + 16);
        if (!expected) w.Error(error);
        else
        {
            w.Expected(error);
            if (error is null) w.Raw(value.WrittenSpan);
        }
        return CWrapperFunctionResult.From(w.WrittenSpan);
    }

    /// <summary>For results that cannot carry an error (an integer, void): LLVM sends an out-of-band error.</summary>
    static CWrapperFunctionResult ServeRaw(byte* arg, nuint size, Handler handler)
    {
        var value = new SpsWriter();
        try
        {
            var r = new SpsReader(new ReadOnlySpan<byte>(arg, checked((int)size)));
            handler(ref r, value);
        }
        catch (LinkError e) { return CWrapperFunctionResult.OutOfBandError(e.Message); }
        return CWrapperFunctionResult.From(value.WrittenSpan);
    }

    static void Instance(ref SpsReader r, ExecutorAddr expected, string what)
    {
        var a = r.Addr();
        if (a != expected) throw new LinkError($"executor: {a} is not the {what} instance");
    }

    // --- SimpleExecutorMemoryManager ---

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult ReserveWrapper(byte* arg, nuint size) => Serve(arg, size, true, (ref SpsReader r, SpsWriter w) =>
    {
        Instance(ref r, MemoryManagerInstance, "memory manager");
        w.Addr(ExecutorServices.Memory.Reserve(r.U64(), Memory.Placement.NearLibraries));
    });

    /// <summary>The wire's segment flags: read, write, exec, and finalize lifetime.</summary>
    const byte ReadBit = 1, WriteBit = 2, ExecBit = 4, FinalizeBit = 8;

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult FinalizeWrapper(byte* arg, nuint size) => Serve(arg, size, false, (ref SpsReader r, SpsWriter w) =>
    {
        Instance(ref r, MemoryManagerInstance, "memory manager");
        var segs = new FinalizeSegment[r.Count(25)];
        for (int i = 0; i < segs.Length; i++)
        {
            byte flags = r.U8();
            if ((flags & ~(ReadBit | WriteBit | ExecBit | FinalizeBit)) != 0) throw new LinkError($"malformed message: segment flags {flags:x}");
            var prot = (MemProt)(flags & (ReadBit | WriteBit | ExecBit));
            var lifetime = (flags & FinalizeBit) != 0 ? MemLifetime.Finalize : MemLifetime.Standard;
            segs[i] = new FinalizeSegment(r.Addr(), r.U64(), prot, lifetime, r.Bytes().ToArray());
        }
        var actions = new AllocActionCallPair[r.Count(32)];
        for (int i = 0; i < actions.Length; i++)
        {
            var fin = new WrapperCall(r.Addr(), r.Bytes().ToArray());
            var dealloc = new WrapperCall(r.Addr(), r.Bytes().ToArray());
            actions[i] = new AllocActionCallPair(fin, dealloc.Function.IsNull ? null : dealloc);
        }
        if (segs.Length == 0) throw new LinkError("executor: finalize request without segments");
        // The allocation is known by its lowest address (the reservation's base, where deallocate points).
        Array.Sort(segs, (a, b) => a.Address.Value.CompareTo(b.Address.Value));
        ExecutorServices.Memory.Finalize(new FinalizeRequest(segs, actions));
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DeallocateWrapper(byte* arg, nuint size) => Serve(arg, size, false, (ref SpsReader r, SpsWriter w) =>
    {
        Instance(ref r, MemoryManagerInstance, "memory manager");
        var bases = new ExecutorAddr[r.Count(8)];
        for (int i = 0; i < bases.Length; i++) bases[i] = r.Addr();
        ExecutorServices.Memory.Deallocate(bases);
    });

    // --- SimpleExecutorDylibManager ---

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult OpenWrapper(byte* arg, nuint size) => Serve(arg, size, true, (ref SpsReader r, SpsWriter w) =>
    {
        Instance(ref r, DylibManagerInstance, "dylib manager");
        string path = r.String();
        r.U64(); // mode: LLVM's executor ignores it too (libraries are opened lazily binding, globally)
        w.Addr(path.Length == 0 ? SymbolLookup.LoadProcess() : SymbolLookup.LoadLibrary(path, ExecutorServices.Memory));
    });

    /// <summary>JITSymbolFlags::Exported, as LLVM's executor reports every symbol it finds.</summary>
    const byte ExportedFlag = 0x10;

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult LookupWrapper(byte* arg, nuint size) => Serve(arg, size, true, (ref SpsReader r, SpsWriter w) =>
    {
        Instance(ref r, DylibManagerInstance, "dylib manager");
        var handle = r.Addr();
        var names = new string[r.Count(9)];
        var required = new bool[names.Length];
        for (int i = 0; i < names.Length; i++) { names[i] = r.String(); required[i] = r.Bool(); }
        // The runtime's own functions are symbols of this process, as they are of LLVM's executor.
        var found = SymbolLookup.Lookup([handle], names);
        w.U64((ulong)names.Length);
        for (int i = 0; i < names.Length; i++)
        {
            var a = found[i] ?? (SymbolLookup.IsProcess(handle) ? ProcessSymbol(names[i]) : null);
            if (a is null && required[i]) throw new LinkError($"Missing definition for {names[i]}");
            w.Addr(a ?? default).U8(a is null ? (byte)0 : ExportedFlag).U8(0);
        }
    });

    /// <summary>Runtime functions LLVM's controller looks up in the process rather than among the bootstrap symbols.</summary>
    static ExecutorAddr? ProcessSymbol(string name) =>
        name is LlvmBootstrapNames.RegisterJitLoaderGdb or LlvmBootstrapNames.RegisterEhFrame or LlvmBootstrapNames.DeregisterEhFrame
            ? BootstrapSymbols.Functions()[name] : null;

    // --- running code ---

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RunAsMainWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        var main = r.Addr();
        var args = new string[r.Count(8)];
        for (int i = 0; i < args.Length; i++) args[i] = r.String();
        ExecutorServices.CheckCode([main], "entry point");
        nint environ = LibC.Symbol("environ");
        var entry = EntryBlock.Build(args, environ == 0 ? null : *(nint**)environ);
        int status;
        using (CrashReport.OnThisThread())
            status = ((delegate* unmanaged<int, nint*, nint*, int>)main.Value)(entry.Argc, entry.Argv, entry.Envp);
        MainReturned = true;
        w.I64(status);
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RunAsVoidFunctionWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        var fn = r.Addr();
        ExecutorServices.CheckCode([fn], "function");
        using (CrashReport.OnThisThread()) w.I32(((delegate* unmanaged<int>)fn.Value)());
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RunAsIntFunctionWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        var fn = r.Addr();
        int value = r.I32();
        ExecutorServices.CheckCode([fn], "function");
        using (CrashReport.OnThisThread()) w.I32(((delegate* unmanaged<int, int>)fn.Value)(value));
    });

    // --- memory writes: only into finalized writable memory of this executor ---

    static byte* Writable(ExecutorAddr a, ulong size)
    {
        if (size == 0) return (byte*)a.Value;
        if (ExecutorAddressSpace.FindFinalized(a, size, MemProt.Write) is null)
            throw new LinkError($"executor: memory write to {a} ({size} bytes) is outside writable JIT'd memory");
        return (byte*)a.Value;
    }

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult WriteUInt8sWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        for (int n = r.Count(9), i = 0; i < n; i++) { var a = r.Addr(); *Writable(a, 1) = r.U8(); }
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult WriteUInt16sWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        for (int n = r.Count(10), i = 0; i < n; i++) { var a = r.Addr(); *(ushort*)Writable(a, 2) = r.U16(); }
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult WriteUInt32sWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        for (int n = r.Count(12), i = 0; i < n; i++) { var a = r.Addr(); *(uint*)Writable(a, 4) = r.U32(); }
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult WriteUInt64sWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        for (int n = r.Count(16), i = 0; i < n; i++) { var a = r.Addr(); *(ulong*)Writable(a, 8) = r.U64(); }
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult WriteBuffersWrapper(byte* arg, nuint size) => ServeRaw(arg, size, (ref SpsReader r, SpsWriter w) =>
    {
        for (int n = r.Count(16), i = 0; i < n; i++)
        {
            var a = r.Addr();
            var bytes = r.Bytes();
            bytes.CopyTo(new Span<byte>(Writable(a, (ulong)bytes.Length), bytes.Length)); // in bounds: checked by Writable
        }
    });

    // --- eh-frame and debugger registration ---

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RegisterEhFrameWrapper(byte* arg, nuint size) => Serve(arg, size, false, (ref SpsReader r, SpsWriter w) => EhFrame(ref r, true));

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DeregisterEhFrameWrapper(byte* arg, nuint size) => Serve(arg, size, false, (ref SpsReader r, SpsWriter w) => EhFrame(ref r, false));

    static void EhFrame(ref SpsReader r, bool register)
    {
        var (start, end) = (r.Addr(), r.Addr());
        if (end < start) throw new LinkError($"malformed message: eh-frame range {start}..{end}");
        if (EhFrameRuntime.Update(start, register) is { } error) throw new LinkError(error);
    }

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RegisterJitLoaderGdbWrapper(byte* arg, nuint size) => Serve(arg, size, false, (ref SpsReader r, SpsWriter w) =>
    {
        var (start, end) = (r.Addr(), r.Addr());
        r.Bool(); // notify the debugger now: it always is
        if (end <= start || ExecutorAddressSpace.FindFinalized(start, end.Value - start.Value, MemProt.Read) is null)
            throw new LinkError($"executor: debug object {start}..{end} is not in finalized memory");
        GdbJitInterface.Register((byte*)start.Value, end.Value - start.Value);
    });

    // --- calls from JIT'd code to the controller ---

    /// <summary>Sends a call to the controller and waits for its result bytes (null: the call failed, with
    /// the reason); set by the server of the session.</summary>
    public static Func<ExecutorAddr, byte[], (byte[]? Result, string? Error)>? Dispatcher { get; set; }

    /// <summary>The dispatch context JIT'd code passes back (it identifies nothing more: one session per process).</summary>
    public static readonly ExecutorAddr DispatchContext = Token();

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DispatchFunction(nint context, nint tag, byte* data, nuint size)
    {
        if (Dispatcher is not { } dispatch) return CWrapperFunctionResult.OutOfBandError("no controller to call");
        var (result, error) = dispatch(new ExecutorAddr((ulong)tag), new ReadOnlySpan<byte>(data, checked((int)size)).ToArray());
        return result is null ? CWrapperFunctionResult.OutOfBandError(error ?? "call to the controller failed") : CWrapperFunctionResult.From(result);
    }
}
