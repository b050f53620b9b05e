using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>The executor runtime's wrapper functions, announced to the controller by address: OrcSharp's
/// services by their own names, and LLVM 19's standard services by LLVM's names (with the two instance
/// addresses and the dispatch context, which are data, not functions).</summary>
public static unsafe class BootstrapSymbols
{
    static readonly Dictionary<string, ExecutorAddr> FunctionTable = new()
    {
        [BootstrapNames.MemReserve] = W(&ExecutorServices.ReserveWrapper),
        [BootstrapNames.MemFinalize] = W(&ExecutorServices.FinalizeWrapper),
        [BootstrapNames.MemDeallocate] = W(&ExecutorServices.DeallocateWrapper),
        [BootstrapNames.MemRelease] = W(&ExecutorServices.ReleaseWrapper),
        [BootstrapNames.Lookup] = W(&ExecutorServices.LookupWrapper),
        [BootstrapNames.Describe] = W(&ExecutorServices.DescribeWrapper),
        [BootstrapNames.CreateTlsModule] = W(&ExecutorServices.CreateTlsModuleWrapper),
        [BootstrapNames.ImportThreadLocals] = W(&TlsModuleRuntime.ImportWrapper),
        [BootstrapNames.RunInitializers] = W(&ExecutorServices.RunInitializersWrapper),
        [BootstrapNames.RunDeinitializers] = W(&ExecutorServices.RunDeinitializersWrapper),
        [BootstrapNames.RunProgram] = W(&ExecutorServices.RunProgramWrapper),
        [BootstrapNames.RunMain] = W(&ExecutorServices.RunMainWrapper),
        [BootstrapNames.CallFunction] = W(&ExecutorServices.CallFunctionWrapper),
        [BootstrapNames.CopyRelocationApply] = W(&CopyRelocationRuntime.ApplyWrapper),
        [BootstrapNames.CopyRelocationUndo] = W(&CopyRelocationRuntime.UndoWrapper),
        [BootstrapNames.RegisterEhFrame] = W(&EhFrameRuntime.RegisterWrapper),
        [BootstrapNames.ReleaseTlsModule] = W(&TlsModuleRuntime.ReleaseWrapper),
        [BootstrapNames.DeregisterEhFrame] = W(&EhFrameRuntime.DeregisterWrapper),
        [BootstrapNames.ResolveIndirectFunctions] = W(&IndirectFunctionRuntime.ResolveWrapper),
        [BootstrapNames.RegisterImage] = W(&LoadedImageRuntime.RegisterWrapper),
        [BootstrapNames.DeregisterImage] = W(&LoadedImageRuntime.DeregisterWrapper),
        [BootstrapNames.RegisterDebugObject] = W(&DebugObjectRuntime.RegisterWrapper),
        [BootstrapNames.DeregisterDebugObject] = W(&DebugObjectRuntime.DeregisterWrapper),
        [LlvmBootstrapNames.MemoryManagerReserve] = W(&LlvmExecutorServices.ReserveWrapper),
        [LlvmBootstrapNames.MemoryManagerFinalize] = W(&LlvmExecutorServices.FinalizeWrapper),
        [LlvmBootstrapNames.MemoryManagerDeallocate] = W(&LlvmExecutorServices.DeallocateWrapper),
        [LlvmBootstrapNames.DylibManagerOpen] = W(&LlvmExecutorServices.OpenWrapper),
        [LlvmBootstrapNames.DylibManagerLookup] = W(&LlvmExecutorServices.LookupWrapper),
        [LlvmBootstrapNames.RunAsMain] = W(&LlvmExecutorServices.RunAsMainWrapper),
        [LlvmBootstrapNames.RunAsVoidFunction] = W(&LlvmExecutorServices.RunAsVoidFunctionWrapper),
        [LlvmBootstrapNames.RunAsIntFunction] = W(&LlvmExecutorServices.RunAsIntFunctionWrapper),
        [LlvmBootstrapNames.WriteUInt8s] = W(&LlvmExecutorServices.WriteUInt8sWrapper),
        [LlvmBootstrapNames.WriteUInt16s] = W(&LlvmExecutorServices.WriteUInt16sWrapper),
        [LlvmBootstrapNames.WriteUInt32s] = W(&LlvmExecutorServices.WriteUInt32sWrapper),
        [LlvmBootstrapNames.WriteUInt64s] = W(&LlvmExecutorServices.WriteUInt64sWrapper),
        [LlvmBootstrapNames.WriteBuffers] = W(&LlvmExecutorServices.WriteBuffersWrapper),
        [LlvmBootstrapNames.RegisterEhFrame] = W(&LlvmExecutorServices.RegisterEhFrameWrapper),
        [LlvmBootstrapNames.DeregisterEhFrame] = W(&LlvmExecutorServices.DeregisterEhFrameWrapper),
        [LlvmBootstrapNames.RegisterJitLoaderGdb] = W(&LlvmExecutorServices.RegisterJitLoaderGdbWrapper),
        [BootstrapNames.MapSharedSegments] = W(&SharedSegmentRuntime.MapWrapper),
    };

    /// <summary>Every wrapper function: what a controller may call and what allocation actions may target.</summary>
    public static IReadOnlyDictionary<string, ExecutorAddr> Functions() => FunctionTable;

    /// <summary>What the Setup message announces: the functions, the instances and the dispatch entry.</summary>
    public static IReadOnlyDictionary<string, ExecutorAddr> Get() => new Dictionary<string, ExecutorAddr>(FunctionTable)
    {
        [LlvmBootstrapNames.MemoryManagerInstance] = LlvmExecutorServices.MemoryManagerInstance,
        [LlvmBootstrapNames.DylibManagerInstance] = LlvmExecutorServices.DylibManagerInstance,
        [LlvmBootstrapNames.DispatchContext] = LlvmExecutorServices.DispatchContext,
        [LlvmBootstrapNames.DispatchFunction] = new((ulong)(delegate* unmanaged<nint, nint, byte*, nuint, CWrapperFunctionResult>)&LlvmExecutorServices.DispatchFunction),
    };

    static ExecutorAddr W(delegate* unmanaged<byte*, nuint, CWrapperFunctionResult> f) => new((ulong)f);
}
