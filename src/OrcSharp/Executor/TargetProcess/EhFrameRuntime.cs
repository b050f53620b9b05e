using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor-side eh-frame registration with the system unwinder (libgcc's __register_frame and
/// __deregister_frame), as finalize and dealloc actions. Argument (SPS): the address of the first
/// record of a zero-terminated .eh_frame section.
/// </summary>
public static unsafe class EhFrameRuntime
{
    static nint _register, _deregister;

    static bool Resolve()
    {
        if (_register != 0) return true;
        nint libgcc = LibC.dlopen("libgcc_s.so.1", LibC.RtldNow | LibC.RtldGlobal);
        if (libgcc == 0) return false;
        _deregister = LibC.dlsym(libgcc, "__deregister_frame");
        _register = LibC.dlsym(libgcc, "__register_frame");
        return _register != 0 && _deregister != 0;
    }

    public static byte[] EncodeArgument(ExecutorAddr ehFrame) => new SpsWriter().Addr(ehFrame).ToArray();

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RegisterWrapper(byte* arg, nuint size) => Call(arg, size, register: true);

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DeregisterWrapper(byte* arg, nuint size) => Call(arg, size, register: false);

    static CWrapperFunctionResult Call(byte* arg, nuint size, bool register)
    {
        string? error = null;
        try
        {
            var addr = new SpsReader(new ReadOnlySpan<byte>(arg, (int)size)).Addr();
            if (!Resolve()) error = "libgcc_s.so.1 with __register_frame is not available";
            else ((delegate* unmanaged<nint, void>)(register ? _register : _deregister))((nint)addr.Value);
        }
        catch (LinkError e) { error = e.Message; }
        return CWrapperFunctionResult.From(new SpsWriter().Error(error).WrittenSpan);
    }
}
