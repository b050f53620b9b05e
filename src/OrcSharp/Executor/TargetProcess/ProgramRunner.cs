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

    /// <summary>Runs initializers as dlopen does: with the process's own argc, argv and envp, laid out
    /// as the kernel lays them out (auxiliary vector after envp).</summary>
    public static void RunInitializers(IReadOnlyList<ExecutorAddr> initializers, Func<string, nint> libcSymbol)
    {
        if (initializers.Count > 0) RunEach(initializers, EntryBlock.ForThisProcess(libcSymbol));
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
    }

    [UnmanagedCallersOnly]
    static void RunFinalizers(nint context)
    {
        var fini = (ulong*)context;
        ulong n = fini[0];
        for (ulong i = 0; i < n; i++) ((delegate* unmanaged<void>)fini[i + 1])();
    }
}
