using System.Runtime.InteropServices;
using OrcSharp.JitLink;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor side of thread-local storage: hands a link's TLS image to glibc as a static-TLS module loaded
/// from an in-memory file (memfd), then reports its module id and its offset from the thread pointer.
/// glibc then does the rest natively: a copy per thread (existing and future threads), __tls_get_addr
/// for the dynamic models, and release with the module.
/// </summary>
public static unsafe class TlsModuleRuntime
{
    const int RtldDiLinkmap = 2, RtldDiTlsModid = 9;
    /// <summary>glibc places dlopen'ed static TLS at offsets aligned to the static TLS alignment fixed at
    /// start-up: 64 bytes (x86-64's thread descriptor; the AArch64 executor raises its own to match, see
    /// StaticTlsAlignment.c). A block that needs more is refused whatever the reserve.</summary>
    const ulong StaticTlsAlignment = 64;

    public static TlsModule Create(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment)
    {
        ushort machine = HostArchitecture.IsArm64 ? ElfAbi.EmAArch64 : ElfAbi.EmX86_64;
        var module = TlsModuleImage.Build(initialImage, memSize, alignment, machine);
        nint handle = InMemoryLibrary.Load(module.File, "orcsharp-tls", LibC.RtldNow | LibC.RtldLocal, out string? err);
        if (handle == 0)
        {
            err ??= "unknown dynamic loader error";
            if (err.Contains("static TLS", StringComparison.Ordinal) && alignment > StaticTlsAlignment)
                throw new LinkError($"executor: thread-locals aligned to {alignment} bytes cannot be placed in static TLS, whose blocks glibc aligns to at most {StaticTlsAlignment} bytes in every thread");
            if (err.Contains("static TLS", StringComparison.Ordinal))
                throw new StaticTlsExhaustedError(memSize + alignment, "glibc: cannot allocate memory in static TLS block");
            throw new LinkError($"executor: loading the thread-local storage module failed: {err}");
        }

        nuint modid = 0;
        if (LibC.dlinfo(handle, RtldDiTlsModid, &modid) != 0 || modid == 0)
        {
            LibC.dlclose(handle);
            throw new LinkError("executor: the dynamic loader gave the thread-local storage module no module id");
        }
        // The loader resolved the module's own TP-relative relocation: read the block's offset from the
        // thread pointer (the same in every thread) from the slot. l_addr is link_map's first field.
        nint* linkMap = null;
        if (LibC.dlinfo(handle, RtldDiLinkmap, &linkMap) != 0 || linkMap == null)
        {
            LibC.dlclose(handle);
            throw new LinkError("executor: the dynamic loader did not describe the thread-local storage module");
        }
        long tpOffset = *(long*)(linkMap[0] + module.ThreadPointerOffsetSlot);
        return new TlsModule(new ExecutorAddr((ulong)handle), modid, tpOffset);
    }

    public static void Release(ExecutorAddr handle) => LibC.dlclose((nint)handle.Value);

    public static byte[] EncodeReleaseArgument(ExecutorAddr handle) => new SpsWriter().Addr(handle).ToArray();

    /// <summary>Dealloc action: releases the module (SPS argument: its handle).</summary>
    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult ReleaseWrapper(byte* arg, nuint size)
    {
        string? error = null;
        try { Release(new SpsReader(new ReadOnlySpan<byte>(arg, (int)size)).Addr()); }
        catch (LinkError e) { error = e.Message; }
        return CWrapperFunctionResult.From(new SpsWriter().Error(error).WrittenSpan);
    }
}
