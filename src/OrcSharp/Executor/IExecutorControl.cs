using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor;

/// <summary>What to run: initializers in order, finalizers in the order exit must call them, then main.</summary>
public sealed record ProgramStart(
    IReadOnlyList<ExecutorAddr> Initializers,
    IReadOnlyList<ExecutorAddr> Finalizers,
    ExecutorAddr DsoHandle,
    ExecutorAddr Main,
    IReadOnlyList<string> Arguments);

/// <summary>What the executor's dynamic loader knows about a library symbol.</summary>
public readonly record struct SymbolDescription(ulong Size, bool IsData);

/// <summary>Names of the executor runtime's wrapper functions.</summary>
public static class BootstrapNames
{
    public const string CopyRelocationApply = "orcsharp_copy_relocation_apply";
    public const string CopyRelocationUndo = "orcsharp_copy_relocation_undo";
    public const string RegisterEhFrame = "orcsharp_register_eh_frame";
    public const string DeregisterEhFrame = "orcsharp_deregister_eh_frame";
    public const string ReleaseTlsModule = "orcsharp_release_tls_module";
    public const string ResolveIndirectFunctions = "orcsharp_resolve_indirect_functions";
    public const string RegisterImage = "orcsharp_register_image";
    public const string DeregisterImage = "orcsharp_deregister_image";
    public const string RegisterDebugObject = "orcsharp_register_debug_object";
    public const string DeregisterDebugObject = "orcsharp_deregister_debug_object";
    /// <summary>OrcSharp extension: maps the controller's segment memfd (SharedSegmentRuntime).</summary>
    public const string MapSharedSegments = "orcsharp_map_shared_segments";
    // Services a remote controller calls (SimpleRemoteEPC).
    public const string MemReserve = "orcsharp_mem_reserve";
    public const string MemFinalize = "orcsharp_mem_finalize";
    public const string MemDeallocate = "orcsharp_mem_deallocate";
    public const string MemRelease = "orcsharp_mem_release";
    public const string Lookup = "orcsharp_lookup";
    public const string Describe = "orcsharp_describe";
    public const string CreateTlsModule = "orcsharp_create_tls_module";
    public const string ImportThreadLocals = "orcsharp_import_thread_locals";
    public const string RunInitializers = "orcsharp_run_initializers";
    public const string RunDeinitializers = "orcsharp_run_deinitializers";
    public const string RunProgram = "orcsharp_run_program";
}

/// <summary>Counters that show the cost of talking to the executor.</summary>
public sealed class ExecutorStats
{
    public int RoundTrips;
    public long BytesSent, BytesReceived;
}

/// <summary>
/// Control of the process that runs JIT'd code. Two implementations share every line of linking code:
/// in-process (memory access is a memcpy, calls are function pointers) and remote (SimpleRemoteEPC).
/// </summary>
public interface IExecutorControl : ITlsModuleHost, IDisposable
{
    string TargetTriple { get; }
    uint PageSize { get; }
    IJitLinkMemoryManager MemoryManager { get; }
    ExecutorStats Stats { get; }

    /// <summary>Loads a shared library in the executor (dlopen) and returns its handle.</summary>
    ExecutorAddr LoadDylib(string path);

    /// <summary>Looks up many names in the given libraries, in order: one batch, one round trip.
    /// A name found nowhere comes back as null.</summary>
    ExecutorAddr?[] LookupSymbols(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names);

    /// <summary>Size and kind (data or not) of the library symbols at these addresses; null where unknown.</summary>
    SymbolDescription?[] DescribeSymbols(IReadOnlyList<ExecutorAddr> addresses);

    /// <summary>Addresses of the executor's own runtime functions (wrapper functions), by name.</summary>
    IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols { get; }

    /// <summary>Runs a program: initializers, main(argc, argv, envp), then exit with main's result so
    /// atexit handlers and finalizers run and stdio is flushed. In-process this does not return.</summary>
    int RunProgram(ProgramStart start);

    /// <summary>Runs initializers as dlopen does: each gets the process's own (argc, argv, envp), with the
    /// auxiliary vector after envp as the kernel lays it out.</summary>
    void RunInitializers(IReadOnlyList<ExecutorAddr> initializers);

    /// <summary>Tears down a JITDylib's runtime state as dlclose does: its finalizers run in the given
    /// order, then __cxa_finalize(dsoHandle) runs the atexit and __cxa_atexit handlers registered for it.</summary>
    void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers);

    /// <summary>Every executor releases a TLS module with its runtime's release wrapper.</summary>
    WrapperCall ITlsModuleHost.ReleaseAction(TlsModule module) =>
        new(BootstrapSymbols[BootstrapNames.ReleaseTlsModule], TargetProcess.TlsModuleRuntime.EncodeReleaseArgument(module.Handle));
}
