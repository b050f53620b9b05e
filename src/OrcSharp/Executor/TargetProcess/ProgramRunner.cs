using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor-side program start, the way a native executable starts: the argv/envp/auxv block the kernel
/// would lay out (<see cref="EntryBlock"/>, with environ and program_invocation_name pointing into it),
/// finalizers registered with __cxa_atexit first (so, like the native fini_array walk, they run after
/// every handler the program registers), initializers with (argc, argv, envp) of that same block, then
/// main, then exit(main's result).
/// </summary>
public static unsafe class ProgramRunner
{
    public static int Run(ProgramStart start, Func<string, nint> libcSymbol)
    {
        nint environPtr = libcSymbol("environ");
        var entry = EntryBlock.Build(start.Arguments, environPtr == 0 ? null : *(nint**)environPtr);
        entry.Publish(libcSymbol);

        if (start.Finalizers.Count > 0)
        {
            // In bounds: Count + 1 slots, the count then each finalizer (RunFinalizers reads the same).
            var fini = (ulong*)NativeMemory.Alloc((nuint)(start.Finalizers.Count + 1), sizeof(ulong));
            fini[0] = (ulong)start.Finalizers.Count;
            for (int i = 0; i < start.Finalizers.Count; i++) fini[i + 1] = start.Finalizers[i].Value;
            var cxaAtexit = (delegate* unmanaged<delegate* unmanaged<nint, void>, nint, nint, int>)libcSymbol("__cxa_atexit");
            if (cxaAtexit == null) throw new LinkError("executor: __cxa_atexit not found in libc");
            cxaAtexit(&RunFinalizers, (nint)fini, (nint)start.DsoHandle.Value);
        }
        RunEach(start.Initializers, entry);
        int status = ((delegate* unmanaged<int, nint*, nint*, int>)start.Main.Value)(entry.Argc, entry.Argv, entry.Envp);
        var exit = (delegate* unmanaged<int, void>)libcSymbol("exit");
        exit(status);
        return status; // not reached
    }

    /// <summary>Runs main(argc, argv, envp) and returns its result without ending the process (LLVM's
    /// runAsMain): argv is <paramref name="arguments"/>, envp the process's environment. The process's
    /// own environ and program name are left alone, and stdio is flushed afterwards so the program's
    /// output comes before whatever the host writes next.</summary>
    public static int RunMain(ExecutorAddr main, IReadOnlyList<string> arguments, Func<string, nint> libcSymbol)
    {
        nint environPtr = libcSymbol("environ");
        var entry = EntryBlock.Build(arguments, environPtr == 0 ? null : *(nint**)environPtr);
        try { return ((delegate* unmanaged<int, nint*, nint*, int>)main.Value)(entry.Argc, entry.Argv, entry.Envp); }
        finally
        {
            LibC.fflush(0);
            entry.Free();
        }
    }

    /// <summary>Calls a function that takes up to <see cref="MaxCallArguments"/> integer or pointer
    /// arguments and returns an integer, a pointer or nothing: every such signature passes its arguments
    /// in the same registers (System V x86-64, AAPCS64), so one six-argument call serves them all.</summary>
    public static ulong Call(ExecutorAddr function, ReadOnlySpan<ulong> arguments)
    {
        if (arguments.Length > MaxCallArguments) throw new LinkError($"a call takes at most {MaxCallArguments} arguments, not {arguments.Length}");
        Span<ulong> a = stackalloc ulong[MaxCallArguments];
        arguments.CopyTo(a);
        ulong result = ((delegate* unmanaged<ulong, ulong, ulong, ulong, ulong, ulong, ulong>)function.Value)(a[0], a[1], a[2], a[3], a[4], a[5]);
        LibC.fflush(0);
        return result;
    }

    /// <summary>The most arguments <see cref="Call"/> passes (all in registers on both targets).</summary>
    public const int MaxCallArguments = 6;

    /// <summary>Runs initializers as dlopen does: with the process's own argc, argv and envp, laid out
    /// as the kernel lays them out (auxiliary vector after envp).</summary>
    public static void RunInitializers(IReadOnlyList<ExecutorAddr> initializers, Func<string, nint> libcSymbol)
    {
        if (initializers.Count == 0) return;
        RunEach(initializers, EntryBlock.ForThisProcess(libcSymbol));
        LibC.fflush(0); // their output comes before whatever the host writes next
    }

    static void RunEach(IReadOnlyList<ExecutorAddr> initializers, EntryBlock entry)
    {
        foreach (var init in initializers) ((delegate* unmanaged<int, nint*, nint*, void>)init.Value)(entry.Argc, entry.Argv, entry.Envp);
    }

    public static void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers, Func<string, nint> libcSymbol)
    {
        // As dlclose does for a shared object: its fini array first, then (crtbegin's last fini entry)
        // __cxa_finalize for its DSO handle, which runs its atexit and __cxa_atexit handlers.
        foreach (var f in finalizers) ((delegate* unmanaged<void>)f.Value)();
        var cxaFinalize = (delegate* unmanaged<nint, void>)libcSymbol("__cxa_finalize");
        if (cxaFinalize != null && !dsoHandle.IsNull) cxaFinalize((nint)dsoHandle.Value);
        LibC.fflush(0);
    }

    [UnmanagedCallersOnly]
    static void RunFinalizers(nint context)
    {
        var fini = (ulong*)context;
        ulong n = fini[0];
        for (ulong i = 0; i < n; i++) ((delegate* unmanaged<void>)fini[i + 1])();
    }
}
