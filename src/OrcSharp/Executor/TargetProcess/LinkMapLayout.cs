using static OrcSharp.ObjectFile.Elf.ElfAbi;
using OrcSharp.ObjectFile.Elf;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Where glibc keeps the private fields of <c>struct link_map</c> that say which memory a loaded object
/// covers: <c>l_phdr</c>/<c>l_phnum</c> (what dl_iterate_phdr reports), <c>l_map_start</c>/<c>l_map_end</c>
/// (what dladdr and dlsym's caller lookup search), and <c>l_tls_modid</c>. Only <c>l_addr</c>, <c>l_name</c>,
/// <c>l_ld</c>, <c>l_next</c> and <c>l_prev</c> are public ABI, so the offsets are not assumed: they are
/// found by value in an object this executor just loaded, whose values are known (its program header
/// table as dl_iterate_phdr reports it, its mapping, the TLS block it declares), and are checked again for
/// every object before anything is written. A layout where any of them cannot be found, or is found
/// twice, is refused.
/// </summary>
internal sealed unsafe class LinkMapLayout
{
    public const int Addr = 0, Name = 8, Ld = 16, Next = 24, Prev = 32;
    /// <summary>l_libname follows l_addr, l_name, l_ld, l_next, l_prev, l_real and l_ns. For an object
    /// loaded by dlopen it points just past the structure (glibc allocates the name list with it), which
    /// bounds every search below to the structure's own memory.</summary>
    const int LibName = 56;

    public int Phdr { get; private init; }
    public int PhNum => Phdr + 16; // after l_phdr comes l_entry, then the 16-bit l_phnum
    public int MapStart { get; private init; }
    public int MapEnd => MapStart + 8;
    /// <summary>Offset of l_tls_modid, or -1 until an object with thread-locals has been seen.</summary>
    public int TlsModid { get; private set; } = -1;

    static LinkMapLayout? _found;
    static readonly object Lock = new();

    public static ulong Read(nint map, int offset) => *(ulong*)(map + offset);
    public static void Write(nint map, int offset, ulong value) => *(ulong*)(map + offset) = value;

    /// <summary>The layout, found in (or checked against) <paramref name="map"/>: an object this executor
    /// loaded from <paramref name="path"/> whose one load segment starts at file offset 0 and is
    /// <paramref name="mappedSize"/> bytes long.</summary>
    public static LinkMapLayout For(nint map, string path, ulong mappedSize)
    {
        lock (Lock)
        {
            var layout = _found ?? Discover(map, path, mappedSize);
            layout.Check(map, path, mappedSize);
            return _found = layout;
        }
    }

    static LinkMapLayout Discover(nint map, string path, ulong mappedSize)
    {
        int size = StructureSize(map, path);
        var phdrs = PhdrsOf(map);
        int phdr = FindUnique(map, 0, size, o => Read(map, o) == (ulong)phdrs.Phdr && *(ushort*)(map + o + 16) == phdrs.PhNum, "l_phdr");
        ulong start = Read(map, Addr);
        int mapStart = FindUnique(map, phdr + 24, size - 8, o => Read(map, o) == start && Read(map, o + 8) == start + mappedSize, "l_map_start");
        return new LinkMapLayout { Phdr = phdr, MapStart = mapStart };
    }

    void Check(nint map, string path, ulong mappedSize)
    {
        int size = StructureSize(map, path);
        var phdrs = PhdrsOf(map);
        ulong start = Read(map, Addr);
        if (MapEnd + 8 > size || Read(map, Phdr) != (ulong)phdrs.Phdr || *(ushort*)(map + PhNum) != phdrs.PhNum ||
            Read(map, MapStart) != start || Read(map, MapEnd) != start + mappedSize || (TlsModid >= 0 && Read(map, TlsModid) != 0))
            throw Unknown("a field found in an earlier object does not hold the expected value in this one");
    }

    /// <summary>Finds l_tls_modid in the map of a loaded TLS module: it follows l_tls_initimage,
    /// l_tls_initimage_size, l_tls_blocksize, l_tls_align, l_tls_firstbyte_offset and l_tls_offset,
    /// and the first four hold what the module's PT_TLS says.</summary>
    public void FindTlsModid(nint tlsMap, ulong modid)
    {
        lock (Lock)
        {
            int size = StructureSize(tlsMap, null);
            var info = PhdrsOf(tlsMap);
            ElfProgramHeader? tls = null;
            foreach (ref readonly var ph in new ReadOnlySpan<ElfProgramHeader>((void*)info.Phdr, info.PhNum))
                if (ph.Type == ElfAbi.PtTls) tls = ph;
            if (tls is not { } t) throw Unknown("the thread-local storage module reports no PT_TLS");
            ulong image = Read(tlsMap, Addr) + t.VAddr;
            int found = FindUnique(tlsMap, MapEnd + 8, size - 56, o => Read(tlsMap, o) == image && Read(tlsMap, o + 8) == t.FileSz &&
                Read(tlsMap, o + 16) == t.MemSz && Read(tlsMap, o + 24) == t.Align, "l_tls_initimage");
            if (Read(tlsMap, found + 48) != modid) throw Unknown("l_tls_modid does not follow l_tls_offset");
            if (TlsModid >= 0 && TlsModid != found + 48) throw Unknown("l_tls_modid moved");
            TlsModid = found + 48;
        }
    }

    /// <summary>The size of the structure of an object loaded by dlopen: the distance to its name list,
    /// which glibc allocates with it; the list's first name is the one the object was opened by
    /// (<paramref name="path"/>, when given) and is stored right after the list entry.</summary>
    static int StructureSize(nint map, string? path)
    {
        nint libname = (nint)Read(map, LibName);
        long size = libname - map;
        if (size < 256 || size > 8192 || (size & 7) != 0) throw Unknown("l_libname does not follow the structure");
        nint name = *(nint*)libname;
        if (name <= libname || name > libname + 64) throw Unknown("l_libname does not hold the object's name");
        if (path is not null)
        {
            var expected = Encoding.UTF8.GetBytes(path + "\0");
            if (!new ReadOnlySpan<byte>((void*)name, expected.Length).SequenceEqual(expected))
                throw Unknown("l_libname does not name the object");
        }
        return (int)size;
    }

    /// <summary>What dl_iterate_phdr reports for this object (found by its l_addr and l_name).</summary>
    static (nint Phdr, ushort PhNum) PhdrsOf(nint map)
    {
        var q = new Query { Addr = Read(map, Addr), Name = (nint)Read(map, Name) };
        LibC.dl_iterate_phdr(&Visit, (nint)(&q));
        if (q.PhNum == 0) throw Unknown("dl_iterate_phdr does not report the object just loaded");
        return (q.Phdr, q.PhNum);
    }

    struct Query { public ulong Addr; public nint Name; public nint Phdr; public ushort PhNum; }

    [System.Runtime.InteropServices.UnmanagedCallersOnly]
    static int Visit(DlPhdrInfo* info, nuint size, nint data)
    {
        var q = (Query*)data;
        if (info->Addr != q->Addr || info->Name != q->Name) return 0;
        q->Phdr = info->Phdr;
        q->PhNum = info->PhNum;
        return 1;
    }

    static int FindUnique(nint map, int from, int to, Func<int, bool> matches, string field)
    {
        int found = -1;
        for (int o = (from + 7) & ~7; o + 8 <= to; o += 8)
        {
            if (!matches(o)) continue;
            if (found >= 0) throw Unknown($"{field} is ambiguous");
            found = o;
        }
        return found >= 0 ? found : throw Unknown($"{field} not found");
    }

    static LinkError Unknown(string detail) =>
        new($"executor: unrecognized layout of the dynamic loader's struct link_map ({detail}); JIT'd code cannot be described to it as a loaded image");
}
