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
        string? error;
        try { error = Update(new SpsReader(new ReadOnlySpan<byte>(arg, (int)size)).Addr(), register); }
        catch (LinkError e) { error = e.Message; }
        return CWrapperFunctionResult.From(new SpsWriter().Error(error).WrittenSpan);
    }

    /// <summary>Registers (or deregisters) the section at <paramref name="addr"/>; returns an error or null.</summary>
    public static string? Update(ExecutorAddr addr, bool register)
    {
        string? error = null;
        try
        {
            if (!Resolve()) error = "libgcc_s.so.1 with __register_frame is not available";
            else
            {
                lock (Registered)
                {
                    // libgcc reads the whole section and aborts on deregistering an unknown one.
                    if (register && !Registered.Add(CheckSection(addr).Value)) throw new LinkError($"eh-frame section at {addr} is already registered");
                    if (!register && !Registered.Remove(addr.Value)) throw new LinkError($"no eh-frame section is registered at {addr}");
                }
                ((delegate* unmanaged<nint, void>)(register ? _register : _deregister))((nint)addr.Value);
            }
        }
        catch (LinkError e) { error = e.Message; }
        return error;
    }

    static readonly HashSet<ulong> Registered = new();

    /// <summary>Checks that the records from <paramref name="addr"/> up to the zero terminator lie in one
    /// readable finalized segment (what the unwinder will read), following each record's length field.</summary>
    static ExecutorAddr CheckSection(ExecutorAddr addr)
    {
        if (ExecutorAddressSpace.FindFinalized(addr, 4, MemProt.Read) is not { } segment)
            throw new LinkError($"eh-frame section at {addr} is not in finalized memory");
        ulong p = addr.Value, end = segment.End;
        while (true)
        {
            if (end - p < 4) break;
            ulong length = *(uint*)p, header = 4;
            if (length == 0) return addr;
            if (length == 0xffff_ffff)
            {
                if (end - p < 12) break;
                length = *(ulong*)(p + 4);
                header = 12;
            }
            if (length > end - p - header) break;
            p += header + length;
        }
        throw new LinkError($"eh-frame section at {addr} runs past the end of its segment");
    }
}
