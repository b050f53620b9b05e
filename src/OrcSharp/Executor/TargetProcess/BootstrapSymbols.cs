using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>The executor runtime's wrapper functions, announced to the controller by address.</summary>
public static unsafe class BootstrapSymbols
{
    public static IReadOnlyDictionary<string, ExecutorAddr> Get() => new Dictionary<string, ExecutorAddr>
    {
        [BootstrapNames.CopyRelocationApply] = new((ulong)(delegate* unmanaged<byte*, nuint, CWrapperFunctionResult>)&CopyRelocationRuntime.ApplyWrapper),
        [BootstrapNames.CopyRelocationUndo] = new((ulong)(delegate* unmanaged<byte*, nuint, CWrapperFunctionResult>)&CopyRelocationRuntime.UndoWrapper),
        [BootstrapNames.RegisterEhFrame] = new((ulong)(delegate* unmanaged<byte*, nuint, CWrapperFunctionResult>)&EhFrameRuntime.RegisterWrapper),
        [BootstrapNames.ReleaseTlsModule] = new((ulong)(delegate* unmanaged<byte*, nuint, CWrapperFunctionResult>)&TlsModuleRuntime.ReleaseWrapper),
        [BootstrapNames.DeregisterEhFrame] = new((ulong)(delegate* unmanaged<byte*, nuint, CWrapperFunctionResult>)&EhFrameRuntime.DeregisterWrapper),
    };
}
