using static OrcSharp.ObjectFile.Elf.ElfAbi;
using OrcSharp.ObjectFile.Elf;
using System.Runtime.InteropServices;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor-side copy relocations, for code built without -fPIC that reaches library data (stdout,
/// optind ...) with 32-bit references. As in a native non-PIE link, the JIT'd code gets its own copy of
/// the variable, and every loaded library's GOT entry for that name is pointed at the copy so the library
/// and the JIT'd code share one variable. Undoing it copies the value back and restores the GOT entries.
/// Argument (SPS): sequence of (name: string, original: addr, copy: addr, size: u64).
/// A variable's aliases (environ and __environ, program_invocation_name and __progname_full: the names
/// libc's own code uses) are redirected with it, as the native linker defines them at the copy too.
/// </summary>
public static unsafe class CopyRelocationRuntime
{
    /// <summary>Variables that live in a copy now: original address → copy.</summary>
    static readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, ulong> Live = new();

    /// <summary>Where a library variable lives now: its copy, if JIT'd code has one, else itself.</summary>
    public static nint CurrentAddress(nint original) => Live.TryGetValue((ulong)original, out ulong copy) ? (nint)copy : original;

    public static CWrapperFunctionResult Apply(byte* arg, nuint size) => Run(arg, size, install: true);
    public static CWrapperFunctionResult Undo(byte* arg, nuint size) => Run(arg, size, install: false);

    [UnmanagedCallersOnly] public static CWrapperFunctionResult ApplyWrapper(byte* arg, nuint size) => Apply(arg, size);
    [UnmanagedCallersOnly] public static CWrapperFunctionResult UndoWrapper(byte* arg, nuint size) => Undo(arg, size);

    public static byte[] EncodeArgument(IEnumerable<(string Name, ExecutorAddr Original, ExecutorAddr Copy, ulong Size)> items)
    {
        var w = new SpsWriter();
        var list = items.ToList();
        w.U64((ulong)list.Count);
        foreach (var (n, o, c, s) in list) w.String(n).Addr(o).Addr(c).U64(s);
        return w.ToArray();
    }

    static CWrapperFunctionResult Run(byte* arg, nuint size, bool install)
    {
        try
        {
            var r = new SpsReader(new ReadOnlySpan<byte>(arg, (int)size));
            int n = r.Count(32);
            for (int i = 0; i < n; i++)
            {
                string name = r.String();
                ulong orig = r.U64(), copy = r.U64(), len = r.U64();
                if (install)
                {
                    Check(name, new ExecutorAddr(orig), new ExecutorAddr(copy), len);
                    Buffer.MemoryCopy((void*)orig, (void*)copy, len, len);
                }
                else
                {
                    // Only what was installed is undone: the sizes were checked then.
                    if (!Live.TryGetValue(orig, out ulong installed) || installed != copy)
                        throw new LinkError($"'{name}': no copy at {new ExecutorAddr(copy)} was installed for {new ExecutorAddr(orig)}");
                    CopyBack((byte*)orig, (byte*)copy, len);
                }
                RedirectGotEntries(name, install ? orig : copy, install ? copy : orig, len);
                if (install) Live[orig] = copy;
                else Live.TryRemove(orig, out _);
            }
            return CWrapperFunctionResult.From(new SpsWriter().Error(null).WrittenSpan);
        }
        catch (Exception e)
        {
            return CWrapperFunctionResult.From(new SpsWriter().Error($"copy relocation: {e.Message}").WrittenSpan);
        }
    }

    /// <summary>Copies the program's value back, only if the program changed it: library data that is
    /// read-only (typeinfo and vtables in RELRO, const data) cannot be written, and did not change.</summary>
    internal static void CopyBack(byte* orig, byte* copy, ulong len)
    {
        if (!new ReadOnlySpan<byte>(copy, checked((int)len)).SequenceEqual(new ReadOnlySpan<byte>(orig, (int)len)))
            Buffer.MemoryCopy(copy, orig, len, len);
    }

    /// <summary>The original must be a library data symbol at least as big as the copy, and the copy must
    /// lie in writable memory this executor finalized: the bytes moved are the controller's to choose,
    /// the places they move between are not.</summary>
    static void Check(string name, ExecutorAddr orig, ExecutorAddr copy, ulong len)
    {
        if (SymbolLookup.Describe([orig])[0] is not { IsData: true } d || d.Size < len)
            throw new LinkError($"'{name}': {orig} is not a library variable of at least {len} bytes");
        if (ExecutorAddressSpace.FindFinalized(copy, len, MemProt.Read | MemProt.Write) is null)
            throw new LinkError($"'{name}': the copy at {copy} ({len} bytes) is not in writable finalized memory");
    }

    sealed class Request { public byte[] Name = Array.Empty<byte>(); public ulong From, To, Size; public int Patched; }

    static void RedirectGotEntries(string name, ulong from, ulong to, ulong size)
    {
        var req = new Request { Name = Encoding.UTF8.GetBytes(name), From = from, To = to, Size = size };
        var h = GCHandle.Alloc(req);
        try { LibC.dl_iterate_phdr(&Visit, GCHandle.ToIntPtr(h)); }
        finally { h.Free(); }
    }

    [UnmanagedCallersOnly]
    static int Visit(DlPhdrInfo* info, nuint infoSize, nint data)
    {
        var req = (Request)GCHandle.FromIntPtr(data).Target!;
        var phdrs = new ReadOnlySpan<ElfProgramHeader>((void*)info->Phdr, info->PhNum);
        ulong dyn = 0, relroStart = 0, relroEnd = 0;
        foreach (ref readonly var ph in phdrs)
        {
            if (ph.Type == ElfAbi.PtDynamic) dyn = info->Addr + ph.VAddr;
            else if (ph.Type == ElfAbi.PtGnuRelro) { relroStart = info->Addr + ph.VAddr; relroEnd = relroStart + ph.MemSz; }
        }
        if (dyn == 0) return 0;
        ulong strtab = 0, symtab = 0, rela = 0, relasz = 0, jmprel = 0, pltrelsz = 0;
        for (var d = (long*)dyn; d[0] != 0; d += 2)
        {
            ulong v = (ulong)d[1];
            switch (d[0])
            {
                case 5: strtab = v; break;
                case 6: symtab = v; break;
                case 7: rela = v; break;
                case 8: relasz = v; break;
                case 23: jmprel = v; break;
                case 2: pltrelsz = v; break;
            }
        }
        // glibc stores relocated pointers in the dynamic section; correct the ones it did not.
        ulong Fix(ulong p) => p != 0 && p < info->Addr ? p + info->Addr : p;
        strtab = Fix(strtab); symtab = Fix(symtab); rela = Fix(rela); jmprel = Fix(jmprel);
        if (strtab == 0 || symtab == 0) return 0;
        Patch(info->Addr, rela, relasz, symtab, strtab, req, relroStart, relroEnd);
        Patch(info->Addr, jmprel, pltrelsz, symtab, strtab, req, relroStart, relroEnd);
        return 0;
    }

    // The dynamic relocations that hold a data symbol's address: GLOB_DAT and the plain 64-bit one
    // (x86-64: 6 and 1; AArch64: 0x401 and 0x101, whose GLOB_DAT also adds its addend).
    static readonly bool Arm64 = HostArchitecture.IsArm64;
    static readonly uint GlobDat = Arm64 ? 0x401u : 6u, Abs64 = Arm64 ? 0x101u : 1u;
    static readonly bool AddendInGlobDat = Arm64;

    static void Patch(ulong baseAddr, ulong rela, ulong size, ulong symtab, ulong strtab, Request req, ulong relroStart, ulong relroEnd)
    {
        if (rela == 0) return;
        ulong page = (ulong)Environment.SystemPageSize;
        for (ulong off = 0; off + 24 <= size; off += 24)
        {
            var r = (ulong*)(rela + off);
            uint type = (uint)r[1];
            if (type != GlobDat && type != Abs64) continue;
            uint symIndex = (uint)(r[1] >> 32);
            if (symIndex == 0) continue;
            var sym = (byte*)(symtab + symIndex * 24UL);
            var symName = MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)(strtab + *(uint*)sym));
            // In bounds: the slot is where the library's own dynamic relocation (read from the loader's
            // mapping of it) says its GOT entry is; it is written only if it holds `From`.
            // The name itself, or an alias: another name for the same object (same size, same address).
            if (!symName.SequenceEqual(req.Name) && *(ulong*)(sym + 16) != req.Size) continue;
            var slot = (ulong*)(baseAddr + r[0]);
            bool addend = type == Abs64 || AddendInGlobDat;
            if (*slot != req.From + (addend ? (ulong)(long)r[2] : 0UL)) continue;
            ulong pageStart = (ulong)slot & ~(page - 1);
            bool relro = (ulong)slot >= relroStart && (ulong)slot < relroEnd;
            if (relro) LibC.mprotect((nint)pageStart, (nuint)page, LibC.ProtRead | LibC.ProtWrite);
            *slot = req.To + (addend ? (ulong)(long)r[2] : 0);
            if (relro) LibC.mprotect((nint)pageStart, (nuint)page, LibC.ProtRead);
            req.Patched++;
        }
    }
}
