using System.Runtime.InteropServices;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;
using static OrcSharp.Executor.SimpleRemote.ExecutorServiceMessages;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// The executor's services as wrapper functions (C ABI: argument bytes in, result bytes out), called by a
/// remote controller by address: memory (reserve, finalize, deallocate, release), dynamic libraries and
/// batched lookup, symbol descriptions, TLS modules, and running initializers, finalizers and programs.
/// Each decodes its SPS arguments, does the same work the in-process executor does directly, and
/// answers with an SPS error flag first. Malformed arguments come back as errors.
/// </summary>
public static unsafe class ExecutorServices
{
    /// <summary>The memory of remote controllers, whose actions are checked.</summary>
    public static ExecutorMemory Memory { get; } = new() { CheckActionTargets = true };

    /// <summary>Sends a running program's exit status to the controller; set by the server before it
    /// calls <see cref="RunProgramWrapper"/>, which never returns.</summary>
    public static Action<int>? ProgramExitReporter { get; set; }

    delegate byte[] Handler(ReadOnlySpan<byte> args);

    /// <summary>Runs a service; a failure is encoded as its result type says (<paramref name="expected"/>:
    /// SPSExpected, else SPSError).</summary>
    static CWrapperFunctionResult Serve(byte* arg, nuint size, Handler handler, bool expected = true)
    {
        byte[] result;
        string? error = null;
        try { result = handler(new ReadOnlySpan<byte>(arg, checked((int)size))); }
        catch (LinkError e) { result = []; error = e.Message; }
        catch (Exception e) { result = []; error = $"executor: internal error: {e.GetType().Name}: {e.Message}"; }
        if (error is not null) result = expected ? ExpectedFailure(error) : Failure(error);
        return CWrapperFunctionResult.From(result);
    }

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult ReserveWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        ulong bytes = r.U64();
        byte placement = r.U8();
        if (placement > (byte)Placement.Low32) throw new LinkError($"malformed message: placement {placement}");
        var addr = Memory.Reserve(bytes, (Placement)placement);
        return Ok(w => w.Addr(addr));
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult FinalizeWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var handle = Memory.Finalize(ReadFinalize(ref r));
        return Ok(w => w.Addr(handle));
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DeallocateWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        Memory.Deallocate(ReadAddresses(ref r));
        return Ok();
    }, expected: false);

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult ReleaseWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        ExecutorMemory.Release(r.Addr(), r.U64());
        return Ok();
    }, expected: false);

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult LookupWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var loaded = new ExecutorAddr[r.Count(8)];
        for (int i = 0; i < loaded.Length; i++) loaded[i] = SymbolLookup.LoadLibrary(r.String(), Memory);
        var search = new ExecutorAddr[r.Count(8)];
        for (int i = 0; i < search.Length; i++)
        {
            ulong s = r.U64();
            if ((s & LoadedInThisCall) == 0) { search[i] = new ExecutorAddr(s); continue; }
            ulong index = s & ~LoadedInThisCall;
            if (index >= (ulong)loaded.Length) throw new LinkError($"malformed message: library index {index}");
            search[i] = loaded[index];
        }
        var names = new string[r.Count(8)];
        for (int i = 0; i < names.Length; i++) names[i] = r.String();
        var found = SymbolLookup.Lookup(search, names);
        return Ok(w =>
        {
            WriteAddrs(w, loaded);
            w.U64((ulong)found.Length);
            foreach (var f in found) w.Bool(f is not null).Addr(f ?? default);
        });
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DescribeWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var found = SymbolLookup.Describe(ReadAddresses(ref r));
        return Ok(w =>
        {
            w.U64((ulong)found.Length);
            foreach (var d in found) w.Bool(d is not null).U64(d?.Size ?? 0).Bool(d?.IsData ?? false);
        });
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult CreateTlsModuleWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var image = r.Bytes();
        ulong memSize = r.U64(), align = r.U64();
        try
        {
            var m = TlsModuleRuntime.Create(image, memSize, align);
            return Ok(w => w.Bool(true).Addr(m.Handle).U64(m.ModuleId).I64(m.ThreadPointerOffset));
        }
        catch (StaticTlsExhaustedError e)
        {
            return Ok(w => w.Bool(false).U64(e.RequiredBytes).String(e.Message));
        }
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RunInitializersWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var inits = ReadAddresses(ref r);
        CheckCode(inits, "initializer");
        using var crashStack = CrashReport.OnThisThread();
        ProgramRunner.RunInitializers(inits, LibC.Symbol);
        return Ok();
    }, expected: false);

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RunDeinitializersWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var dso = r.Addr();
        var finis = ReadAddresses(ref r);
        CheckCode(finis, "finalizer");
        using var crashStack = CrashReport.OnThisThread();
        ProgramRunner.RunDeinitializers(dso, finis, LibC.Symbol);
        return Ok();
    }, expected: false);

    /// <summary>Runs a program to its exit. The status reaches the controller from an on_exit handler
    /// registered before anything else, so it runs after every atexit handler and finalizer.</summary>
    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RunProgramWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var start = ReadProgram(ref r);
        CheckCode(start.Initializers, "initializer");
        CheckCode(start.Finalizers, "finalizer");
        CheckCode([start.Main], "entry point");
        var onExit = (delegate* unmanaged<delegate* unmanaged<int, nint, void>, nint, int>)LibC.Symbol("on_exit");
        if (onExit == null) throw new LinkError("executor: on_exit not found in libc");
        onExit(&ReportExit, 0);
        using var crashStack = CrashReport.OnThisThread();
        int status = ProgramRunner.Run(start, LibC.Symbol);
        return Ok(w => w.I32(status)); // not reached: Run exits the process
    });

    /// <summary>Runs main and answers with its result; the executor keeps serving (LLVM's runAsMain).</summary>
    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RunMainWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var main = r.Addr();
        var args = new string[r.Count(8)];
        for (int i = 0; i < args.Length; i++) args[i] = r.String();
        CheckCode([main], "entry point");
        using var crashStack = CrashReport.OnThisThread();
        int status = ProgramRunner.RunMain(main, args, LibC.Symbol);
        return Ok(w => w.I32(status));
    });

    /// <summary>Calls a function with up to six integer arguments and answers with its return register.</summary>
    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult CallFunctionWrapper(byte* arg, nuint size) => Serve(arg, size, a =>
    {
        var r = new SpsReader(a);
        var function = r.Addr();
        var args = new ulong[r.Count(8)];
        for (int i = 0; i < args.Length; i++) args[i] = r.U64();
        CheckCode([function], "function");
        using var crashStack = CrashReport.OnThisThread();
        ulong result = ProgramRunner.Call(function, args);
        return Ok(w => w.U64(result));
    });

    /// <summary>Only code the executor finalized, or a function of a loaded library, is ever called.</summary>
    internal static void CheckCode(IReadOnlyList<ExecutorAddr> functions, string what)
    {
        foreach (var f in functions)
            if (!ExecutorAddressSpace.IsFinalizedCode(f) && !SymbolLookup.IsFunction(f))
                throw new LinkError($"executor: {what} at {f} is neither finalized code nor a library function");
    }

    [UnmanagedCallersOnly]
    static void ReportExit(int status, nint arg)
    {
        LibC.fflush(0);
        ProgramExitReporter?.Invoke(status);
    }
}
