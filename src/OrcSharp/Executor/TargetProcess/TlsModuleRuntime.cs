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

    /// <summary>Largest block accepted: far beyond any real program, small enough to be no threat.</summary>
    const ulong MaxBlockSize = 1UL << 30;

    /// <summary>Handles of the modules created and not yet released: all that <see cref="Release"/> accepts.
    /// Also the lock of everything here, held from memfd to dlopen and around dlclose.</summary>
    static readonly HashSet<ulong> Live = new();

    /// <summary>
    /// The modules still loaded, in the order glibc placed them in static TLS, each above the one before.
    /// glibc takes back static TLS space only from the top (a dlclose of the block at the end of the used
    /// area), so a module closed under a newer one that is still in use would leave a hole for the life
    /// of the process, and links and removals that interleave (two JITDylibs linking on two threads)
    /// would run out of space. A released module is therefore closed only once every module above it is
    /// released too: then they all go, from the top down, and the space is reused. (A host that always
    /// keeps a newer link while removing an older one still never frees space: glibc allocates only at
    /// the top.)
    /// </summary>
    static readonly List<(nint Handle, bool Released)> Placed = new();

    public static TlsModule Create(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            throw new LinkError($"executor: thread-local storage alignment {alignment} is not a power of two");
        if (alignment > ExecutorMemory.PageSize)
            throw new LinkError($"executor: thread-locals aligned to {alignment} bytes cannot be placed in static TLS, whose blocks glibc aligns to at most {StaticTlsAlignment} bytes in every thread");
        if ((ulong)initialImage.Length > memSize || memSize > MaxBlockSize)
            throw new LinkError($"executor: thread-local storage block of {memSize} bytes with a {initialImage.Length}-byte initial image is not possible");
        ushort machine = HostArchitecture.IsArm64 ? ElfAbi.EmAArch64 : ElfAbi.EmX86_64;
        var file = TlsModuleImage.Build(initialImage, memSize, alignment, machine);
        // One module at a time, so the order of Placed is the order of the blocks in static TLS.
        lock (Live) return Load(file, memSize, alignment);
    }

    static TlsModule Load(byte[] file, ulong memSize, ulong alignment)
    {
        int fd = LibC.memfd_create("orcsharp-tls", LibC.MfdCloexec);
        if (fd < 0) throw new LinkError($"executor: memfd_create failed: {LibC.ErrnoText()}");
        nint handle;
        string? err = null;
        var held = new List<int>();
        try
        {
            // In bounds: each write takes the rest of `file` from offset `done` < file.Length.
            fixed (byte* p = file)
            {
                nint done = 0;
                while (done < file.Length)
                {
                    nint n = LibC.write(fd, p + done, (nuint)(file.Length - done));
                    if (n <= 0) throw new LinkError($"executor: writing the TLS module failed: {LibC.ErrnoText()}");
                    done += n;
                }
            }
            // The loader recognizes objects by name before it looks at the file, so a name that a module
            // still loaded has used (same descriptor number, earlier memfd) must not be reused.
            string path = $"/proc/self/fd/{fd}";
            for (nint old; (old = LibC.dlopen(path, LibC.RtldLazy | LibC.RtldNoload)) != 0;)
            {
                LibC.dlclose(old);
                held.Add(fd);
                fd = LibC.dup(fd);
                if (fd < 0) throw new LinkError($"executor: dup failed: {LibC.ErrnoText()}");
                path = $"/proc/self/fd/{fd}";
            }
            handle = LibC.dlopen(path, LibC.RtldNow | LibC.RtldLocal);
            // Read the message before any other native call: binding one lazily goes through the loader.
            if (handle == 0) err = LibC.LastDlError();
        }
        finally
        {
            LibC.close(fd);
            foreach (int h in held) LibC.close(h);
        }
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
        // In bounds: the slot lies inside the module's one load segment (TlsModuleImage places the TLS
        // image after it), which the loader mapped at l_addr.
        long tpOffset = *(long*)(linkMap[0] + TlsModuleImage.ThreadPointerOffsetSlot);
        Live.Add((ulong)handle);
        Placed.Add((handle, false));
        return new TlsModule(new ExecutorAddr((ulong)handle), modid, tpOffset);
    }

    /// <summary>Releases a module this runtime created; any other handle is an error. It is closed
    /// (dlclose) as soon as no module above it in static TLS is in use (see <see cref="Placed"/>).</summary>
    public static void Release(ExecutorAddr handle)
    {
        lock (Live)
        {
            if (!Live.Remove(handle.Value)) throw new LinkError($"executor: no thread-local storage module has handle {handle}");
            int i = Placed.FindIndex(p => p.Handle == (nint)handle.Value);
            Placed[i] = (Placed[i].Handle, true);
            while (Placed.Count > 0 && Placed[^1].Released)
            {
                LibC.dlclose(Placed[^1].Handle);
                Placed.RemoveAt(Placed.Count - 1);
            }
        }
    }

    /// <summary>Modules released but still loaded under one in use (for tests and diagnostics).</summary>
    public static int ReleasedButLoaded { get { lock (Live) return Placed.Count(p => p.Released); } }

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
