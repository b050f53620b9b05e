using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor-side program start, the way a native executable starts: finalizers are registered with
/// __cxa_atexit first (so, like the native fini_array walk, they run after every handler the program
/// registers), initializers run with (argc, argv, envp), then main, then exit(main's result).
/// </summary>
public static unsafe class ProgramRunner
{
    public static int Run(ProgramStart start, Func<string, nint> libcSymbol)
    {
        int argc = start.Arguments.Count;
        // In bounds: argc + 1 slots, of which argv[0..argc) are written and argv[argc] stays null.
        var argv = (nint*)NativeMemory.AllocZeroed((nuint)(argc + 1), (nuint)sizeof(nint));
        for (int i = 0; i < argc; i++) argv[i] = Marshal.StringToCoTaskMemUTF8(start.Arguments[i]);
        nint environPtr = libcSymbol("environ");
        nint envp = environPtr == 0 ? 0 : *(nint*)environPtr;

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
        foreach (var init in start.Initializers)
            ((delegate* unmanaged<int, nint*, nint, void>)init.Value)(argc, argv, envp);
        int status = ((delegate* unmanaged<int, nint*, nint, int>)start.Main.Value)(argc, argv, envp);
        var exit = (delegate* unmanaged<int, void>)libcSymbol("exit");
        exit(status);
        return status; // not reached
    }

    /// <summary>The argv of an empty command line, {NULL}: one for the life of the process, since an
    /// initializer may keep the pointer it is given.</summary>
    static readonly nint* EmptyArgv = (nint*)NativeMemory.AllocZeroed(1, (nuint)sizeof(nint));

    public static void RunInitializers(IReadOnlyList<ExecutorAddr> initializers, Func<string, nint> libcSymbol)
    {
        var argv = EmptyArgv;
        nint environPtr = libcSymbol("environ");
        nint envp = environPtr == 0 ? 0 : *(nint*)environPtr;
        foreach (var init in initializers) ((delegate* unmanaged<int, nint*, nint, void>)init.Value)(0, argv, envp);
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
