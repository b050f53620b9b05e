using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using OrcSharp.ObjectFile.Elf;

namespace OrcSharp.Platform.Debugging;

/// <summary>
/// Lays out the ELF64 file a debugger reads for one link (an ET_EXEC image, as if linked at the addresses
/// the code really has): loaded sections carry their final address (SHT_NOBITS unless their bytes are
/// needed, like .eh_frame), other sections carry bytes, and a symbol table gives absolute addresses. No
/// program headers: debuggers take addresses from section headers and symbols. Two steps, so that
/// nothing is built twice: declare every section with its size, then <see cref="Layout"/> allocates the
/// file once and the caller writes each section's bytes in place (<see cref="Content"/>, <see cref="Symbols"/>).
/// The section header table comes first, and the bytes of one section may be left to the end of the file
/// and out of the buffer (<see cref="Tail"/>): the executor fills them from its own memory.
/// </summary>
internal sealed class DebugObjectWriter(ushort machine)
{
    sealed record Entry(string Name, uint Type, ulong Flags, ulong Address, ulong Size, ulong Align, uint EntSize = 0)
    {
        public ulong Offset;
    }

    readonly List<Entry> _sections = new();
    int _symbols, _firstGlobal, _stringBytes, _symtab = -1, _tail = -1;

    /// <summary>A section that occupies no bytes in the file (loaded code and data, read from memory).</summary>
    public int Nobits(string name, ulong flags, ulong address, ulong size, ulong align) => Add(new Entry(name, ElfAbi.ShtNobits, flags, address, size, align));

    /// <summary>A section with <paramref name="size"/> bytes in the file; its index for <see cref="Content"/>.</summary>
    public int Progbits(string name, ulong flags, ulong address, int size, ulong align) => Add(new Entry(name, ElfAbi.ShtProgbits, flags, address, (ulong)size, align));

    /// <summary>The section whose bytes end the file and are not in the buffer <see cref="Layout"/> returns.</summary>
    public int Tail(string name, ulong flags, ulong address, int size, ulong align)
    {
        _tail = Progbits(name, flags, address, size, align);
        return _tail;
    }

    int Add(Entry e)
    {
        _sections.Add(e with { Align = Math.Max(1, e.Align) });
        return _sections.Count; // ELF section index: 0 is the null section
    }

    /// <summary>Declares the symbol table: <paramref name="count"/> symbols after the null one, locals first,
    /// and <paramref name="stringBytes"/> bytes of names (without the leading NUL).</summary>
    public void SymbolTable(int count, int firstGlobal, int stringBytes)
    {
        _symbols = count; _firstGlobal = firstGlobal; _stringBytes = stringBytes;
    }

    /// <summary>The file's size; the buffer from <see cref="Layout"/> holds it up to the tail section.</summary>
    public ulong FileSize { get; private set; }

    /// <summary>Allocates the file (after <paramref name="prefix"/> bytes the caller uses for itself, and
    /// without the tail section's bytes) and writes the ELF and section headers; section contents are the
    /// caller's to write.</summary>
    public byte[] Layout(int prefix)
    {
        _symtab = _sections.Count;
        _sections.Add(new Entry(".symtab", ElfAbi.ShtSymtab, 0, 0, (ulong)(_symbols + 1) * 24, 8, 24));
        _sections.Add(new Entry(".strtab", ElfAbi.ShtStrtab, 0, 0, (ulong)_stringBytes + 1, 1));
        int shstrtabSize = 1 + _sections.Sum(s => Encoding.UTF8.GetByteCount(s.Name) + 1) + ".shstrtab".Length + 1;
        _sections.Add(new Entry(".shstrtab", ElfAbi.ShtStrtab, 0, 0, (ulong)shstrtabSize, 1));

        int shnum = _sections.Count + 1;
        ulong offset = 64 + (ulong)shnum * 64;
        var order = _sections.Where((_, i) => i != _tail - 1).Concat(_tail > 0 ? [_sections[_tail - 1]] : []);
        foreach (var s in order)
        {
            if (s.Type == ElfAbi.ShtNobits) { s.Offset = offset; continue; }
            ulong align = Math.Min(s.Align, 8);
            offset = (offset + align - 1) & ~(align - 1);
            s.Offset = offset;
            offset += s.Size;
        }
        FileSize = offset;
        ulong buffered = _tail > 0 ? _sections[_tail - 1].Offset : offset;
        var bytes = new byte[(ulong)prefix + buffered];
        var file = bytes.AsSpan(prefix);
        // ELF header (gABI "ELF Header").
        "\u007fELF"u8.CopyTo(file);
        file[4] = ElfAbi.ClassElf64; file[5] = ElfAbi.DataLsb; file[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(file[16..], ElfAbi.EtExec);
        BinaryPrimitives.WriteUInt16LittleEndian(file[18..], machine);
        BinaryPrimitives.WriteUInt32LittleEndian(file[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(file[40..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(file[52..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(file[58..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(file[60..], (ushort)shnum);
        BinaryPrimitives.WriteUInt16LittleEndian(file[62..], (ushort)(shnum - 1));

        var shstrtab = file.Slice((int)_sections[^1].Offset, shstrtabSize);
        int name = 1;
        var headers = MemoryMarshal.Cast<byte, Elf64SectionHeader>(file.Slice(64, shnum * 64));
        for (int i = 0; i < _sections.Count; i++)
        {
            var s = _sections[i];
            headers[i + 1] = new Elf64SectionHeader
            {
                Name = (uint)name, Type = s.Type, Flags = s.Flags, Addr = s.Address, Offset = s.Offset, Size = s.Size,
                AddrAlign = s.Align, EntSize = s.EntSize,
            };
            name += Encoding.UTF8.GetBytes(s.Name, shstrtab[name..]) + 1;
        }
        headers[_symtab + 1].Link = (uint)_symtab + 2;
        headers[_symtab + 1].Info = (uint)_firstGlobal;
        return bytes;
    }

    /// <summary>Where section <paramref name="index"/>'s bytes go in a file from <see cref="Layout"/>.</summary>
    public Span<byte> Content(byte[] bytes, int prefix, int index)
    {
        var s = _sections[index - 1];
        return bytes.AsSpan(prefix + (int)s.Offset, (int)s.Size);
    }

    /// <summary>The file offset of section <paramref name="index"/>'s bytes.</summary>
    public int Offset(int index) => (int)_sections[index - 1].Offset;

    /// <summary>The symbol table to fill (entry 0 is the null symbol).</summary>
    public Span<Elf64Symbol> Symbols(byte[] bytes, int prefix) => MemoryMarshal.Cast<byte, Elf64Symbol>(Content(bytes, prefix, _symtab + 1));

    /// <summary>The symbol names to fill (offset 0 is the empty name).</summary>
    public Span<byte> SymbolNames(byte[] bytes, int prefix) => Content(bytes, prefix, _symtab + 2);

    /// <summary>The file offset of the symbol names.</summary>
    public int SymbolNamesOffset => Offset(_symtab + 2);
}
