using static OrcSharp.ObjectFile.Elf.ElfAbi;
using OrcSharp.ObjectFile.Elf;
using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>A segment of JIT'd memory as a PT_LOAD describes it (flags are PF_R/PF_W/PF_X).</summary>
public readonly record struct ImageSegment(ExecutorAddr Address, ulong Size, uint Flags);

/// <summary>
/// What the executor needs to present one link as a loaded image. <see cref="Stub"/> is a shared object
/// whose dynamic symbols are the link's exported definitions (values are their JIT'd addresses); its
/// symbol table is at <see cref="SymbolTableOffset"/>, and its .eh_frame_hdr (if any) at
/// <see cref="EhFrameHeaderOffset"/>. <see cref="Key"/> (the link's first address) names the image for
/// deregistration; <see cref="TlsModule"/> is the handle of the link's thread-local storage module, or null.
/// </summary>
public sealed record LoadedImageRequest(
    ExecutorAddr Key, string Name, byte[] Stub, ulong SymbolTableOffset, ulong SymbolCount,
    ulong EhFrameHeaderOffset, ulong EhFrameHeaderSize, IReadOnlyList<ImageSegment> Segments, ExecutorAddr TlsModule)
{
    public byte[] Encode()
    {
        var w = new SpsWriter(8 + 8 + System.Text.Encoding.UTF8.GetByteCount(Name) + 8 + Stub.Length + 4 * 8 + 8 + 20 * Segments.Count + 8);
        w.Addr(Key).String(Name).Bytes(Stub).U64(SymbolTableOffset).U64(SymbolCount).U64(EhFrameHeaderOffset).U64(EhFrameHeaderSize);
        w.U64((ulong)Segments.Count);
        foreach (var s in Segments) w.Addr(s.Address).U64(s.Size).U32(s.Flags);
        return w.Addr(TlsModule).ToArray();
    }

    public static LoadedImageRequest Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new SpsReader(bytes);
        var key = r.Addr();
        string name = r.String();
        byte[] stub = r.Bytes().ToArray();
        ulong symOff = r.U64(), symCount = r.U64(), ehOff = r.U64(), ehSize = r.U64();
        var segments = new ImageSegment[r.Count(20)];
        for (int i = 0; i < segments.Length; i++) segments[i] = new ImageSegment(r.Addr(), r.U64(), r.U32());
        var tls = r.Addr();
        ulong length = (ulong)stub.Length;
        if (symOff > length || symCount >= (length - symOff) / 24 || ehOff > length || ehSize > length - ehOff)
            throw new LinkError("malformed message: image tables lie outside the stub");
        return new LoadedImageRequest(key, name, stub, symOff, symCount, ehOff, ehSize, segments, tls);
    }
}

/// <summary>
/// Executor side of "each link is a loaded image". Registration (a finalize action) loads the link's stub
/// shared object from memory, then rewrites the loader's record of it (<c>struct link_map</c>) so that it
/// describes the JIT'd link instead: load bias 0 (the stub's symbols hold absolute addresses), the link's
/// name, program headers with a PT_LOAD per JIT'd segment plus the stub's own, PT_TLS of the link's TLS
/// module (whose module id it takes), PT_GNU_EH_FRAME and PT_DYNAMIC, and the link's address range.
/// Then it promotes the stub to the global scope. dl_iterate_phdr, dladdr (and so backtrace_symbols),
/// dlsym(RTLD_DEFAULT) and libraries opened later all see the link, whoever calls them.
/// Deregistration (the paired dealloc action) takes the names out, restores every field it changed
/// (dlclose unmaps l_map_start..l_map_end) and closes the stub.
/// </summary>
public static unsafe class LoadedImageRuntime
{
    const int RtldDiLinkmap = 2, RtldDiTlsModid = 9;

    sealed class Registration
    {
        public nint Handle, Map, Phdrs, Name;
        public int Opens;
        // What the loader's record said, and what it says while the image is registered.
        public ulong SavedAddr, SavedName, SavedPhdr, SavedMapStart, SavedMapEnd, SavedTlsModid;
        public ushort SavedPhNum, PhNum;
        public ulong MapStart, MapEnd, TlsModid;
        public ulong SymbolTable, SymbolCount;
        public LinkMapLayout Layout = null!;
    }

    static readonly Dictionary<ulong, Registration> Registered = new();

    public static byte[] EncodeDeregisterArgument(ExecutorAddr key) => new SpsWriter().Addr(key).ToArray();

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RegisterWrapper(byte* arg, nuint size) =>
        Serve(() => Register(LoadedImageRequest.Decode(new ReadOnlySpan<byte>(arg, checked((int)size)))));

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DeregisterWrapper(byte* arg, nuint size) =>
        Serve(() => Deregister(new SpsReader(new ReadOnlySpan<byte>(arg, checked((int)size))).Addr()));

    static CWrapperFunctionResult Serve(Action action)
    {
        string? error = null;
        try { action(); }
        catch (LinkError e) { error = e.Message; }
        return CWrapperFunctionResult.From(new SpsWriter().Error(error).WrittenSpan);
    }

    public static void Register(LoadedImageRequest request)
    {
        lock (Registered)
            if (Registered.ContainsKey(request.Key.Value)) throw new LinkError($"executor: an image is already registered at {request.Key}");
        nint handle = InMemoryLibrary.Load(request.Stub, "orcsharp-image", LibC.RtldNow | LibC.RtldLocal, out string? err, out string path);
        if (handle == 0) throw new LinkError($"executor: loading the image of {request.Name} failed: {err}");
        var reg = new Registration { Handle = handle, Opens = 1 };
        try
        {
            nint map = 0;
            if (LibC.dlinfo(handle, RtldDiLinkmap, &map) != 0 || map == 0) throw new LinkError("executor: the dynamic loader did not describe the image stub");
            reg.Map = map;
            reg.Layout = LinkMapLayout.For(map, path, (ulong)request.Stub.Length);
            ulong tlsModid = 0;
            ElfProgramHeader? tlsPhdr = null;
            if (!request.TlsModule.IsNull) (tlsModid, tlsPhdr) = DescribeTlsModule(request.TlsModule, reg.Layout);
            Describe(reg, request, tlsModid, tlsPhdr);
            if (UnderListLock(reg, patch: true) is { } overlap) throw new LinkError(overlap);
            // Now that the symbols' addresses are right, put them in the global scope.
            nint again = LibC.dlopen(path, LibC.RtldNow | LibC.RtldNoload | LibC.RtldGlobal);
            if (again == 0) throw new LinkError($"executor: adding {request.Name} to the global scope failed: {LibC.LastDlError()}");
            reg.Opens++;
            if (tlsModid != 0) MakeThreadLocalsCurrent(tlsModid);
        }
        catch
        {
            Release(reg, restore: reg.Phdrs != 0);
            throw;
        }
        lock (Registered) Registered[request.Key.Value] = reg;
    }

    public static void Deregister(ExecutorAddr key)
    {
        Registration? reg;
        lock (Registered)
            if (!Registered.Remove(key.Value, out reg)) throw new LinkError($"executor: no image registered at {key}");
        Release(reg, restore: true);
    }

    /// <summary>Takes the names out (a library that bound to them keeps the stub loaded, and would keep
    /// them visible), restores the loader's record and closes the stub.</summary>
    static void Release(Registration reg, bool restore)
    {
        if (restore)
        {
            for (ulong i = 1; i <= reg.SymbolCount; i++)
            {
                byte* sym = (byte*)(reg.SymbolTable + 24 * i);
                *(ushort*)(sym + 6) = 0; // SHN_UNDEF
                *(ulong*)(sym + 8) = 0;
            }
            UnderListLock(reg, patch: false);
        }
        // Opened once, and once more to promote it to the global scope.
        for (int i = 0; i < reg.Opens; i++) LibC.dlclose(reg.Handle);
        if (reg.Phdrs != 0) NativeMemory.Free((void*)reg.Phdrs);
        if (reg.Name != 0) Marshal.FreeCoTaskMem(reg.Name);
    }

    /// <summary>Builds the new program headers and name, and remembers every field it will change.</summary>
    static void Describe(Registration reg, LoadedImageRequest request, ulong tlsModid, ElfProgramHeader? tlsPhdr)
    {
        nint map = reg.Map;
        var layout = reg.Layout;
        ulong stubBase = LinkMapLayout.Read(map, LinkMapLayout.Addr);
        reg.SavedAddr = stubBase;
        reg.SavedName = LinkMapLayout.Read(map, LinkMapLayout.Name);
        reg.SavedPhdr = LinkMapLayout.Read(map, layout.Phdr);
        reg.SavedPhNum = *(ushort*)(map + layout.PhNum);
        reg.SavedMapStart = LinkMapLayout.Read(map, layout.MapStart);
        reg.SavedMapEnd = LinkMapLayout.Read(map, layout.MapEnd);
        reg.SavedTlsModid = layout.TlsModid >= 0 ? LinkMapLayout.Read(map, layout.TlsModid) : 0;
        reg.SymbolTable = stubBase + request.SymbolTableOffset;
        reg.SymbolCount = request.SymbolCount;

        ulong page = ExecutorMemory.PageSize;
        var loads = new List<ElfProgramHeader>();
        var others = new List<ElfProgramHeader>();
        foreach (var s in request.Segments)
            loads.Add(new ElfProgramHeader { Type = PtLoad, Flags = s.Flags, Offset = s.Address.Value, VAddr = s.Address.Value, PAddr = s.Address.Value, FileSz = s.Size, MemSz = s.Size, Align = page });
        // The stub's own segments stay part of the image, moved to absolute addresses like the rest.
        foreach (ref readonly var ph in new ReadOnlySpan<ElfProgramHeader>((void*)reg.SavedPhdr, reg.SavedPhNum))
        {
            if (ph.Type is not (PtLoad or PtDynamic)) continue;
            var moved = ph;
            moved.VAddr += stubBase;
            moved.PAddr += stubBase;
            (ph.Type == PtLoad ? loads : others).Add(moved);
        }
        if (tlsPhdr is { } t) others.Add(t);
        if (request.EhFrameHeaderSize > 0)
        {
            ulong hdr = stubBase + request.EhFrameHeaderOffset;
            others.Add(new ElfProgramHeader { Type = PtGnuEhFrame, Flags = PfR, Offset = request.EhFrameHeaderOffset, VAddr = hdr, PAddr = hdr, FileSz = request.EhFrameHeaderSize, MemSz = request.EhFrameHeaderSize, Align = 4 });
        }
        others.Add(new ElfProgramHeader { Type = PtGnuStack, Flags = PfR | PfW, Align = 16 });
        var all = loads.OrderBy(p => p.VAddr).Concat(others).ToArray();
        reg.Phdrs = (nint)NativeMemory.Alloc((nuint)all.Length, (nuint)sizeof(ElfProgramHeader));
        all.CopyTo(new Span<ElfProgramHeader>((void*)reg.Phdrs, all.Length));
        reg.PhNum = (ushort)all.Length;
        reg.Name = Marshal.StringToCoTaskMemUTF8(request.Name);

        ulong start = ulong.MaxValue, end = 0;
        foreach (var s in request.Segments)
        {
            start = Math.Min(start, s.Address.Value & ~(page - 1));
            end = Math.Max(end, (s.Address.Value + s.Size + page - 1) & ~(page - 1));
        }
        if (request.Segments.Count == 0) (start, end) = (reg.SavedMapStart, reg.SavedMapEnd);
        reg.MapStart = start;
        reg.MapEnd = end;
        reg.TlsModid = tlsModid;
    }

    /// <summary>The module id and PT_TLS (at its absolute address) of the link's TLS module.</summary>
    static (ulong, ElfProgramHeader) DescribeTlsModule(ExecutorAddr module, LinkMapLayout layout)
    {
        nint handle = (nint)module.Value, map = 0;
        nuint modid = 0;
        if (LibC.dlinfo(handle, RtldDiTlsModid, &modid) != 0 || modid == 0 || LibC.dlinfo(handle, RtldDiLinkmap, &map) != 0 || map == 0)
            throw new LinkError("executor: the dynamic loader does not describe the thread-local storage module");
        if (layout.TlsModid < 0) layout.FindTlsModid(map, modid);
        var phdrs = new ReadOnlySpan<ElfProgramHeader>((void*)LinkMapLayout.Read(map, layout.Phdr), *(ushort*)(map + layout.PhNum));
        foreach (var ph in phdrs)
        {
            if (ph.Type != PtTls) continue;
            var t = ph;
            t.VAddr += LinkMapLayout.Read(map, LinkMapLayout.Addr);
            t.PAddr = t.VAddr;
            return (modid, t);
        }
        throw new LinkError("executor: the thread-local storage module has no PT_TLS");
    }

    /// <summary>Writes the new (or the saved) fields while dl_iterate_phdr holds the loader's list lock, so
    /// no dl_iterate_phdr caller sees a half-changed record and no object leaves the list meanwhile.
    /// Returns why the image cannot be registered, or null.</summary>
    static string? UnderListLock(Registration reg, bool patch)
    {
        var change = new Change { Registration = reg, Patch = patch };
        var h = GCHandle.Alloc(change);
        try { LibC.dl_iterate_phdr(&Apply, GCHandle.ToIntPtr(h)); }
        finally { h.Free(); }
        return change.Refused;
    }

    sealed class Change { public Registration Registration = null!; public bool Patch; public string? Refused; }

    [UnmanagedCallersOnly]
    static int Apply(DlPhdrInfo* info, nuint size, nint data)
    {
        var change = (Change)GCHandle.FromIntPtr(data).Target!;
        var reg = change.Registration;
        bool patch = change.Patch;
        nint map = reg.Map;
        var layout = reg.Layout;
        if (patch && OverlappedObject(reg) is { } other)
        {
            change.Refused = $"executor: the memory of image {Marshal.PtrToStringUTF8(reg.Name)} (0x{reg.MapStart:x}-0x{reg.MapEnd:x}) overlaps loaded object {other}";
            return 1;
        }
        LinkMapLayout.Write(map, LinkMapLayout.Addr, patch ? 0 : reg.SavedAddr);
        LinkMapLayout.Write(map, LinkMapLayout.Name, patch ? (ulong)reg.Name : reg.SavedName);
        LinkMapLayout.Write(map, layout.Phdr, patch ? (ulong)reg.Phdrs : reg.SavedPhdr);
        *(ushort*)(map + layout.PhNum) = patch ? reg.PhNum : reg.SavedPhNum;
        LinkMapLayout.Write(map, layout.MapStart, patch ? reg.MapStart : reg.SavedMapStart);
        LinkMapLayout.Write(map, layout.MapEnd, patch ? reg.MapEnd : reg.SavedMapEnd);
        if (layout.TlsModid >= 0) LinkMapLayout.Write(map, layout.TlsModid, patch ? reg.TlsModid : reg.SavedTlsModid);
        return 1;
    }

    /// <summary>The loader finds the object that contains an address by the first record whose range holds
    /// it (and trusts the range when the object is contiguous, as the stub is), so no other object may lie
    /// in this one's range. Called with the list locked.</summary>
    static string? OverlappedObject(Registration reg)
    {
        var layout = reg.Layout;
        nint first = reg.Map;
        while (LinkMapLayout.Read(first, LinkMapLayout.Prev) is var prev && prev != 0) first = (nint)prev;
        for (nint m = first; m != 0; m = (nint)LinkMapLayout.Read(m, LinkMapLayout.Next))
        {
            if (m == reg.Map) continue;
            ulong s = LinkMapLayout.Read(m, layout.MapStart), e = LinkMapLayout.Read(m, layout.MapEnd);
            if (s < reg.MapEnd && reg.MapStart < e) return $"{Marshal.PtrToStringUTF8((nint)LinkMapLayout.Read(m, LinkMapLayout.Name))} (0x{s:x}-0x{e:x})";
        }
        return null;
    }

    struct TlsIndex { public nuint Module, Offset; }

    /// <summary>Brings this thread's view of the thread-local modules up to date (glibc updates it lazily,
    /// in __tls_get_addr), so dl_iterate_phdr reports the link's thread-local block here too, as it does
    /// for an executable's. Threads created later start up to date.</summary>
    static void MakeThreadLocalsCurrent(ulong modid)
    {
        var getAddr = (delegate* unmanaged<TlsIndex*, nint>)LibC.dlsym(0, "__tls_get_addr");
        if (getAddr == null) return;
        var index = new TlsIndex { Module = (nuint)modid };
        getAddr(&index);
    }
}
