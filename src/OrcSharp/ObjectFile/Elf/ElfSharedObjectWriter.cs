using static OrcSharp.ObjectFile.Elf.ElfAbi;
using System.Buffers.Binary;
using System.Text;

namespace OrcSharp.ObjectFile.Elf;

/// <summary>A symbol of an in-memory shared object's dynamic symbol table.</summary>
public readonly record struct ElfDynamicSymbol(string Name, ulong Value, ulong Size, byte Type, byte Binding, ushort SectionIndex);

/// <summary>What <see cref="ElfSharedObjectWriter.Build"/> produced: the file, and where each data blob and
/// the dynamic symbol table ended up (file offsets, which are also the addresses relative to the load base).</summary>
public sealed record ElfSharedObject(byte[] File, int[] DataOffsets, int SymbolTableOffset, int SymbolCount);

/// <summary>
/// Writes minimal ELF64 shared objects (ET_DYN) for the dynamic loader to load from memory: one PT_LOAD
/// that maps the whole file readable and writable (the loader relocates the pointers of .dynamic in
/// place), PT_DYNAMIC, PT_GNU_STACK (without it the loader would make thread stacks executable), and
/// PT_TLS when a thread-local image is given. The dynamic section names a GNU hash table, the symbol and
/// string tables, and RELA relocations if any. Data blobs are placed after the tables and located by
/// the index <see cref="AddData"/> returned. Undefined symbols (<see cref="AddImport"/>) come first in
/// the symbol table, outside the hash table, so relocations can bind to other objects' definitions.
/// No section headers: the loader does not read them. Used for thread-local storage modules (their own
/// block, or imports of libraries' thread-locals) and for the stubs that make JIT'd links visible as
/// loaded images.
/// </summary>
public sealed class ElfSharedObjectWriter(ushort machine)
{
    const int EhdrSize = 64, PhdrSize = 56, DynSize = 16, SymSize = 24, RelaSize = 24;
    const long DtNull = 0, DtStrtab = 5, DtSymtab = 6, DtRela = 7, DtRelasz = 8, DtRelaent = 9, DtStrsz = 10,
        DtSyment = 11, DtFlags = 30, DtGnuHash = 0x6ffffef5;

    readonly List<ElfDynamicSymbol> _symbols = new();
    readonly List<(byte[] Content, int Alignment)> _data = new();
    readonly List<(string Name, byte Type)> _imports = new();
    readonly List<(int Data, int Offset, uint Type, long Addend, int Symbol)> _relocations = new();
    byte[]? _tlsImage;
    ulong _tlsMemSize, _tlsAlignment;

    /// <summary>DT_FLAGS (DF_STATIC_TLS ...); 0 for none.</summary>
    public ulong DynamicFlags { get; set; }

    public void AddSymbol(ElfDynamicSymbol symbol) => _symbols.Add(symbol);

    /// <summary>Adds a blob of bytes to the loaded image (the writer keeps the array until it is built);
    /// returns its index into <see cref="ElfSharedObject.DataOffsets"/>.</summary>
    public int AddData(byte[] content, int alignment)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentException("alignment must be a power of two");
        _data.Add((content, alignment));
        return _data.Count - 1;
    }

    /// <summary>An undefined global symbol of type <paramref name="type"/> (STT_*), for the loader to find in
    /// the global scope; returns its symbol index for <see cref="AddRelocation"/>.</summary>
    public int AddImport(string name, byte type)
    {
        _imports.Add((name, type));
        return _imports.Count;
    }

    /// <summary>A relocation at <paramref name="offset"/> in data blob <paramref name="data"/>, against
    /// <paramref name="symbol"/> (an index from <see cref="AddImport"/>) or symbol 0, the object itself.</summary>
    public void AddRelocation(int data, int offset, uint type, long addend = 0, int symbol = 0) =>
        _relocations.Add((data, offset, type, addend, symbol));

    /// <summary>The PT_TLS segment: initial image, then zero fill up to <paramref name="memSize"/>.</summary>
    public void SetThreadLocalImage(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0) throw new ArgumentException("TLS alignment must be a power of two");
        if ((ulong)initialImage.Length > memSize) throw new ArgumentException("TLS initial image is larger than the block");
        _tlsImage = initialImage.ToArray();
        _tlsMemSize = memSize;
        _tlsAlignment = alignment;
    }

    public ElfSharedObject Build()
    {
        // Symbol 0 is the null symbol; every other symbol is hashed, in the hash table's bucket order.
        var names = new byte[_symbols.Count][];
        var hashes = new uint[_symbols.Count];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] = Encoding.UTF8.GetBytes(_symbols[i].Name);
            hashes[i] = ElfGnuHash.Hash(names[i]);
        }
        int[] order = ElfGnuHash.Order(hashes);
        var importNames = _imports.Select(i => Encoding.UTF8.GetBytes(i.Name)).ToArray();
        int strSize = 1;
        foreach (var n in names) strSize += n.Length + 1;
        foreach (var n in importNames) strSize += n.Length + 1;
        int defined0 = 1 + _imports.Count; // index of the first hashed symbol

        int phCount = _tlsImage is null ? 3 : 4;
        int dynCount = 6 + (_relocations.Count > 0 ? 3 : 0) + (DynamicFlags != 0 ? 1 : 0);
        int phOff = EhdrSize;
        int dynOff = phOff + PhdrSize * phCount;
        int hashOff = dynOff + DynSize * dynCount;
        int symOff = Align(hashOff + ElfGnuHash.Size(_symbols.Count), 8);
        int strOff = symOff + SymSize * (defined0 + _symbols.Count);
        int relaOff = Align(strOff + strSize, 8);
        int end = relaOff + RelaSize * _relocations.Count;
        var dataOffsets = new int[_data.Count];
        for (int i = 0; i < _data.Count; i++)
        {
            dataOffsets[i] = Align(end, _data[i].Alignment);
            end = dataOffsets[i] + _data[i].Content.Length;
        }
        ulong tlsOff = 0;
        if (_tlsImage is not null)
        {
            tlsOff = (ulong)Align(end, 16);
            tlsOff = (tlsOff + _tlsAlignment - 1) & ~(_tlsAlignment - 1);
            end = checked((int)tlsOff + _tlsImage.Length);
        }
        var b = new byte[end];
        var s = b.AsSpan();

        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = ElfAbi.ClassElf64; s[5] = ElfAbi.DataLsb; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], ElfAbi.EtDyn);
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], machine);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], (ulong)phOff);
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], EhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], PhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], (ushort)phCount);
        BinaryPrimitives.WriteUInt16LittleEndian(s[58..], 64);

        WritePhdr(s[phOff..], PtLoad, PfR | PfW, 0, (ulong)end, (ulong)end, 0x1000);
        WritePhdr(s[(phOff + PhdrSize)..], PtDynamic, PfR | PfW, (ulong)dynOff, (ulong)(DynSize * dynCount), (ulong)(DynSize * dynCount), 8);
        WritePhdr(s[(phOff + 2 * PhdrSize)..], PtGnuStack, PfR | PfW, 0, 0, 0, 16);
        if (_tlsImage is not null)
            WritePhdr(s[(phOff + 3 * PhdrSize)..], PtTls, PfR, tlsOff, (ulong)_tlsImage.Length, _tlsMemSize, _tlsAlignment);

        var dyn = s[dynOff..];
        int d = 0;
        void Dyn(Span<byte> table, long tag, ulong value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(table[(d * DynSize)..], tag);
            BinaryPrimitives.WriteUInt64LittleEndian(table[(d * DynSize + 8)..], value);
            d++;
        }
        Dyn(dyn, DtGnuHash, (ulong)hashOff);
        Dyn(dyn, DtStrtab, (ulong)strOff);
        Dyn(dyn, DtSymtab, (ulong)symOff);
        Dyn(dyn, DtStrsz, (ulong)strSize);
        Dyn(dyn, DtSyment, SymSize);
        if (_relocations.Count > 0)
        {
            Dyn(dyn, DtRela, (ulong)relaOff);
            Dyn(dyn, DtRelasz, (ulong)(RelaSize * _relocations.Count));
            Dyn(dyn, DtRelaent, RelaSize);
        }
        if (DynamicFlags != 0) Dyn(dyn, DtFlags, DynamicFlags);
        Dyn(dyn, DtNull, 0);

        int str = 1;
        for (int k = 0; k < _imports.Count; k++)
        {
            var e = s[(symOff + SymSize * (k + 1))..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, (uint)str);
            e[4] = (byte)((ElfAbi.StbGlobal << 4) | (_imports[k].Type & 0xf)); // st_shndx 0: undefined
            importNames[k].CopyTo(s[(strOff + str)..]);
            str += importNames[k].Length + 1;
        }
        var sortedHashes = new uint[order.Length];
        for (int k = 0; k < order.Length; k++)
        {
            var sym = _symbols[order[k]];
            sortedHashes[k] = hashes[order[k]];
            var e = s[(symOff + SymSize * (defined0 + k))..];
            BinaryPrimitives.WriteUInt32LittleEndian(e, (uint)str);
            e[4] = (byte)((sym.Binding << 4) | (sym.Type & 0xf));
            e[5] = ElfAbi.StvDefault;
            BinaryPrimitives.WriteUInt16LittleEndian(e[6..], sym.SectionIndex);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], sym.Value);
            BinaryPrimitives.WriteUInt64LittleEndian(e[16..], sym.Size);
            names[order[k]].CopyTo(s[(strOff + str)..]);
            str += names[order[k]].Length + 1;
        }
        ElfGnuHash.Write(s[hashOff..], sortedHashes, firstIndex: (uint)defined0);

        for (int i = 0; i < _relocations.Count; i++)
        {
            var (data, offset, type, addend, symbol) = _relocations[i];
            var r = s[(relaOff + RelaSize * i)..];
            BinaryPrimitives.WriteUInt64LittleEndian(r, (ulong)(dataOffsets[data] + offset));
            BinaryPrimitives.WriteUInt64LittleEndian(r[8..], ((ulong)symbol << 32) | type);
            BinaryPrimitives.WriteInt64LittleEndian(r[16..], addend);
        }
        for (int i = 0; i < _data.Count; i++) _data[i].Content.CopyTo(s[dataOffsets[i]..]);
        _tlsImage?.CopyTo(s[(int)tlsOff..]);
        return new ElfSharedObject(b, dataOffsets, symOff, _imports.Count + _symbols.Count);
    }

    static int Align(int v, int a) => (v + a - 1) & ~(a - 1);

    static void WritePhdr(Span<byte> p, uint type, uint flags, ulong offset, ulong fileSize, ulong memSize, ulong align)
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
