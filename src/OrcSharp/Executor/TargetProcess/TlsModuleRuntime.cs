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
        var module = TlsModuleImage.Build(initialImage, memSize, alignment, Machine);
        // One module at a time, so the order of Placed is the order of the blocks in static TLS.
        lock (Live) return CreateLocked(module, memSize, alignment);
    }

    static TlsModule CreateLocked(TlsModuleFile module, ulong memSize, ulong alignment)
    {
        nint handle = Load(module.File, out string? err);
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
        // thread pointer (the same in every thread) from the slot.
        long tpOffset = *(long*)(LoadAddress(handle) + module.ThreadPointerOffsetSlot);
        Placed.Add((handle, false));
        Live.Add((ulong)handle);
        return new TlsModule(new ExecutorAddr((ulong)handle), modid, tpOffset);
    }

    static ushort Machine => HostArchitecture.IsArm64 ? ElfAbi.EmAArch64 : ElfAbi.EmX86_64;

    /// <summary>
    /// Thread-locals defined by loaded shared libraries, for JIT'd code: a module that imports them
    /// (<see cref="TlsModuleImage.BuildImports"/>) moves each defining library's block into static TLS
    /// and reports every name's offset from the thread pointer, valid in every thread. Names no loaded
    /// library defines come back as null (the loader names one per attempt; the rest are tried again).
    /// Nothing here may look such a name up with dlsym first: a thread that allocated a library's block
    /// dynamically pins it there, and glibc then refuses to move it.
    /// </summary>
    public static (nint Handle, long?[] Offsets) Import(IReadOnlyList<string> names)
    {
        lock (Live) return ImportLocked(names);
    }

    static (nint Handle, long?[] Offsets) ImportLocked(IReadOnlyList<string> names)
    {
        var offsets = new long?[names.Count];
        var pending = Enumerable.Range(0, names.Count).ToList();
        while (pending.Count > 0)
        {
            var file = TlsModuleImage.BuildImports(pending.Select(i => names[i]).ToList(), Machine, out int firstSlot);
            nint handle = Load(file, out string? err);
            if (handle != 0)
            {
                nint loadAddress = LoadAddress(handle);
                for (int j = 0; j < pending.Count; j++) offsets[pending[j]] = *(long*)(loadAddress + firstSlot + 8 * j);
                Placed.Add((handle, false));
                Live.Add((ulong)handle);
                return (handle, offsets);
            }
            err ??= "unknown dynamic loader error";
            const string Undefined = "undefined symbol: ";
            int at = err.IndexOf(Undefined, StringComparison.Ordinal);
            string missing = at < 0 ? "" : err[(at + Undefined.Length)..].Split(',')[0].Trim();
            int index = pending.FindIndex(i => names[i] == missing);
            if (index >= 0) { pending.RemoveAt(index); continue; }
            if (err.Contains("static TLS", StringComparison.Ordinal))
                throw new StaticTlsExhaustedError(LoadedThreadLocalBytes(), "glibc: cannot allocate memory in static TLS block for the thread-locals of shared libraries");
            throw new LinkError($"executor: reaching the thread-locals of shared libraries failed: {err}");
        }
        return (0, offsets);
    }

    /// <summary>dlopen of an in-memory shared object; 0 and the loader's message on failure.</summary>
    static nint Load(byte[] file, out string? error) =>
        InMemoryLibrary.Load(file, "orcsharp-tls", LibC.RtldNow | LibC.RtldLocal, out error);

    /// <summary>The module's load address (l_addr, link_map's first field): slots are relative to it.</summary>
    static nint LoadAddress(nint handle)
    {
        nint* linkMap = null;
        if (LibC.dlinfo(handle, RtldDiLinkmap, &linkMap) != 0 || linkMap == null)
        {
            LibC.dlclose(handle);
            throw new LinkError("executor: the dynamic loader did not describe the thread-local storage module");
        }
        return linkMap[0];
    }

    /// <summary>An upper bound of what moving libraries' blocks into static TLS can take: every loaded
    /// object's PT_TLS size plus its alignment (the loader does not say which library it was moving).</summary>
    static ulong LoadedThreadLocalBytes()
    {
        ulong total = 0;
        LibC.dl_iterate_phdr(&AddTlsSize, (nint)(&total));
        return total;
    }

    [UnmanagedCallersOnly]
    static int AddTlsSize(DlPhdrInfo* info, nuint size, nint data)
    {
        for (int i = 0; i < info->PhNum; i++)
        {
            var ph = (ElfProgramHeader*)info->Phdr + i;
            if (ph->Type == ElfAbi.PtTls) *(ulong*)data += ph->MemSz + ph->Align;
        }
        return 0;
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

    // Import service. Argument (SPS): names. Result: error flag, then fits: bool; if it fits, the
    // module handle and (found: bool, offset: i64) per name; if not, the bytes needed and the message.
    public static byte[] EncodeImportArgument(IReadOnlyList<string> names)
    {
        var w = new SpsWriter(16 + 32 * names.Count).U64((ulong)names.Count);
        foreach (var n in names) w.String(n);
        return w.ToArray();
    }

    /// <summary>Reads an import result (after its error flag); throws <see cref="StaticTlsExhaustedError"/>
    /// when the executor had no room.</summary>
    public static TlsImports DecodeImportResult(ref SpsReader r, int count)
    {
        if (!r.Bool()) throw new StaticTlsExhaustedError(r.U64(), "the executor's glibc: cannot allocate memory in static TLS block for the thread-locals of shared libraries");
        var handle = r.Addr();
        var offsets = new long?[r.Count(9)];
        if (offsets.Length != count) throw new LinkError("executor: thread-locals of shared libraries: wrong number of results");
        for (int i = 0; i < offsets.Length; i++)
        {
            bool found = r.Bool();
            long offset = r.I64();
            if (found) offsets[i] = offset;
        }
        return new TlsImports(handle.IsNull ? null : new TlsModule(handle, 0, 0), offsets);
    }

    /// <summary>The import service (SPS argument: names).</summary>
    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult ImportWrapper(byte* arg, nuint size)
    {
        var w = new SpsWriter();
        try
        {
            var r = new SpsReader(new ReadOnlySpan<byte>(arg, checked((int)size)));
            var names = new string[r.Count(8)];
            for (int i = 0; i < names.Length; i++) names[i] = r.String();
            var (handle, offsets) = Import(names);
            w.Expected(null).Bool(true).Addr(new ExecutorAddr((ulong)handle)).U64((ulong)offsets.Length);
            foreach (var o in offsets) w.Bool(o is not null).I64(o ?? 0);
        }
        catch (StaticTlsExhaustedError e) { w = new SpsWriter().Expected(null).Bool(false).U64(e.RequiredBytes); }
        catch (LinkError e) { w = new SpsWriter().Expected(e.Message); }
        return CWrapperFunctionResult.From(w.WrittenSpan);
    }

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
