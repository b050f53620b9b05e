using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>The executor runtime's wrapper functions, announced to the controller by address.</summary>
public static unsafe class BootstrapSymbols
{
    public static IReadOnlyDictionary<string, ExecutorAddr> Get() => new Dictionary<string, ExecutorAddr>
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
        [BootstrapNames.MapSharedSegments] = W(&SharedSegmentRuntime.MapWrapper),
    };

    static ExecutorAddr W(delegate* unmanaged<byte*, nuint, CWrapperFunctionResult> f) => new((ulong)f);
}
