using System.Buffers.Binary;
using OrcSharp.ObjectFile.Elf;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// A minimal ELF shared object whose only content is a PT_TLS segment, flagged DF_STATIC_TLS so the
/// dynamic loader places its block in the static TLS area: at one fixed offset from the thread pointer in
/// every thread, initialized in threads that already exist and in every thread created later. It has
/// no code and no symbols; it exists so glibc owns the JIT'd thread-local block. Its one relocation, a
/// TP-relative one against its own block, is what makes glibc allocate the block in static TLS (the flag
/// alone does not), and the loader writes that block's offset from the thread pointer into
/// <see cref="ThreadPointerOffsetSlot"/> for the executor to read.
/// </summary>
public static class TlsModuleImage
{
    const int EhdrSize = 64, PhdrSize = 56, PhdrCount = 4, DynSize = 16;
    const uint PtLoad = 1, PtDynamic = 2, PtTls = 7, PtGnuStack = 0x6474e551;
    const uint PfR = 4, PfW = 2;
    const long DtNull = 0, DtHash = 4, DtStrtab = 5, DtSymtab = 6, DtRela = 7, DtRelasz = 8, DtRelaent = 9,
        DtStrsz = 10, DtSyment = 11, DtFlags = 30;
    const ulong DfStaticTls = 0x10;
    const uint RX86_64TpOff64 = 18, RAArch64TlsTprel64 = 1030;

    const int dynCount = 10;
    const int DynOff = EhdrSize + PhdrSize * PhdrCount;
    const int HashOff = DynOff + DynSize * dynCount;
    const int SymOff = HashOff + 16;
    const int StrOff = SymOff + 24;
    const int RelaOff = StrOff + 8;
    /// <summary>Where the loader writes the block's offset from the thread pointer (module-relative).</summary>
    public const int ThreadPointerOffsetSlot = RelaOff + 24;

    public static byte[] Build(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment, ushort machine)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentException("TLS alignment must be a power of two");
        if ((ulong)initialImage.Length > memSize) throw new ArgumentException("TLS initial image is larger than the block");
        const int phOff = EhdrSize, dynOff = DynOff, hashOff = HashOff, symOff = SymOff, strOff = StrOff;
        ulong tlsOff = (ulong)(ThreadPointerOffsetSlot + 8 + 15) & ~15UL;
        tlsOff = (tlsOff + alignment - 1) & ~(alignment - 1);
        ulong fileSize = tlsOff + (ulong)initialImage.Length;
        var b = new byte[fileSize];
        var s = b.AsSpan();

        WriteElfHeader(s, machine, PhdrCount);

        // The loader writes relocated addresses into .dynamic, so the one load segment is writable.
        Phdr(s[phOff..], PtLoad, PfR | PfW, 0, fileSize, fileSize, 0x1000);
        Phdr(s[(phOff + PhdrSize)..], PtDynamic, PfR | PfW, dynOff, DynSize * dynCount, DynSize * dynCount, 8);
        Phdr(s[(phOff + 2 * PhdrSize)..], PtTls, PfR, tlsOff, (ulong)initialImage.Length, memSize, alignment);
        // Without PT_GNU_STACK the loader would make every thread stack executable.
        Phdr(s[(phOff + 3 * PhdrSize)..], PtGnuStack, PfR | PfW, 0, 0, 0, 16);

        var dyn = s[dynOff..];
        int d = 0;
        void Dyn(long tag, ulong value, Span<byte> span)
        {
            BinaryPrimitives.WriteInt64LittleEndian(span[(d * DynSize)..], tag);
            BinaryPrimitives.WriteUInt64LittleEndian(span[(d * DynSize + 8)..], value);
            d++;
        }
        Dyn(DtHash, hashOff, dyn);
        Dyn(DtStrtab, strOff, dyn);
        Dyn(DtSymtab, symOff, dyn);
        Dyn(DtStrsz, 1, dyn);
        Dyn(DtSyment, 24, dyn);
        Dyn(DtRela, RelaOff, dyn);
        Dyn(DtRelasz, 24, dyn);
        Dyn(DtRelaent, 24, dyn);
        Dyn(DtFlags, DfStaticTls, dyn);
        Dyn(DtNull, 0, dyn);

        // SysV hash table with one bucket and the null symbol only; symtab and strtab hold just that.
        BinaryPrimitives.WriteUInt32LittleEndian(s[hashOff..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(hashOff + 4)..], 1);

        // Rela { r_offset = slot, r_info = (symbol 0 << 32) | TP-relative type, r_addend = 0 }: symbol 0 is
        // local, so it binds to this module's own block.
        BinaryPrimitives.WriteUInt64LittleEndian(s[RelaOff..], ThreadPointerOffsetSlot);
        BinaryPrimitives.WriteUInt64LittleEndian(s[(RelaOff + 8)..], machine == ElfAbi.EmAArch64 ? RAArch64TlsTprel64 : RX86_64TpOff64);

        initialImage.CopyTo(s[(int)tlsOff..]);
        return b;
    }

    /// <summary>
    /// A shared object with no thread-local block of its own that imports thread-locals of loaded shared
    /// libraries: one undefined STT_TLS symbol and one TP-relative relocation per name. Resolving them
    /// makes the loader move each defining library's TLS block into static TLS (as for a library a
    /// native executable reaches with initial-exec code), and write each symbol's offset from the thread
    /// pointer into its 8-byte slot: name i's is at <paramref name="firstSlot"/> + 8 i (module-relative).
    /// The loader looks the names up in the global scope.
    /// </summary>
    public static byte[] BuildImports(IReadOnlyList<string> names, ushort machine, out int firstSlot)
    {
        const int phCount = 3, dynCount = 9;
        int n = names.Count;
        var strtab = new List<byte> { 0 };
        var nameOffsets = new int[n];
        for (int i = 0; i < n; i++)
        {
            nameOffsets[i] = strtab.Count;
            strtab.AddRange(System.Text.Encoding.UTF8.GetBytes(names[i]));
            strtab.Add(0);
        }
        const int dynOff = EhdrSize + PhdrSize * phCount, hashOff = dynOff + DynSize * dynCount;
        int symOff = Align8(hashOff + 4 * (3 + n + 1));
        int strOff = symOff + 24 * (n + 1);
        int relaOff = Align8(strOff + strtab.Count);
        int slotsOff = firstSlot = relaOff + 24 * n;
        int fileSize = slotsOff + 8 * n;
        var b = new byte[fileSize];
        var s = b.AsSpan();
        WriteElfHeader(s, machine, phCount);
        Phdr(s[EhdrSize..], PtLoad, PfR | PfW, 0, (ulong)fileSize, (ulong)fileSize, 0x1000);
        Phdr(s[(EhdrSize + PhdrSize)..], PtDynamic, PfR | PfW, dynOff, DynSize * dynCount, DynSize * dynCount, 8);
        Phdr(s[(EhdrSize + 2 * PhdrSize)..], PtGnuStack, PfR | PfW, 0, 0, 0, 16);

        ReadOnlySpan<(long Tag, int Value)> dynamic =
        [
            (DtHash, hashOff), (DtStrtab, strOff), (DtSymtab, symOff), (DtStrsz, strtab.Count), (DtSyment, 24),
            (DtRela, relaOff), (DtRelasz, 24 * n), (DtRelaent, 24), (DtNull, 0),
        ];
        for (int d = 0; d < dynamic.Length; d++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[(dynOff + d * DynSize)..], dynamic[d].Tag);
            BinaryPrimitives.WriteUInt64LittleEndian(s[(dynOff + d * DynSize + 8)..], (ulong)dynamic[d].Value);
        }
        // SysV hash: one empty bucket (nothing is defined here), a chain entry per symbol.
        BinaryPrimitives.WriteUInt32LittleEndian(s[hashOff..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(hashOff + 4)..], (uint)(n + 1));
        strtab.ToArray().CopyTo(s[strOff..]);
        uint type = machine == ElfAbi.EmAArch64 ? RAArch64TlsTprel64 : RX86_64TpOff64;
        for (int i = 0; i < n; i++)
        {
            var sym = s[(symOff + 24 * (i + 1))..];
            BinaryPrimitives.WriteUInt32LittleEndian(sym, (uint)nameOffsets[i]);
            sym[4] = (byte)((ElfAbi.StbGlobal << 4) | ElfAbi.SttTls); // undefined (st_shndx 0)
            var rela = s[(relaOff + 24 * i)..];
            BinaryPrimitives.WriteUInt64LittleEndian(rela, (ulong)(slotsOff + 8 * i));
            BinaryPrimitives.WriteUInt64LittleEndian(rela[8..], ((ulong)(i + 1) << 32) | type);
        }
        return b;
    }

    static int Align8(int x) => (x + 7) & ~7;

    static void WriteElfHeader(Span<byte> s, ushort machine, int phCount)
    {
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = ElfAbi.ClassElf64; s[5] = ElfAbi.DataLsb; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], ElfAbi.EtDyn);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], machine);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], EhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], EhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], PhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)phCount);
        BinaryPrimitives.WriteUInt16LittleEndian(s[58..], 64);
    }

    static void Phdr(Span<byte> p, uint type, uint flags, ulong offset, ulong fileSize, ulong memSize, ulong align)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(p, type);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], flags);
        BinaryPrimitives.WriteUInt64LittleEndian(p[8..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(p[16..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(p[24..], offset);
        BinaryPrimitives.WriteUInt64LittleEndian(p[32..], fileSize);
        BinaryPrimitives.WriteUInt64LittleEndian(p[40..], memSize);
        BinaryPrimitives.WriteUInt64LittleEndian(p[48..], align);
    }
}
