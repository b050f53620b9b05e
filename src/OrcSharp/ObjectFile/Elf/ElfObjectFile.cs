using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.ObjectFile.Elf;

/// <summary>
/// A validated view of one ELF64 little-endian relocatable object. Every offset and size in the headers
/// is checked against the file once, here, so later stages can slice without re-checking: a section
/// that is not SHT_NOBITS or SHT_NULL lies inside the file, a loaded section's alignment is a power of
/// two within <see cref="LinkLimits.MaxAlignment"/> and its size within <see cref="LinkLimits.MaxImageBytes"/>,
/// the symbol table and its SHT_SYMTAB_SHNDX companion are whole, and every symbol's section index is
/// either a real section or one of the reserved values (which callers handle by name).
/// </summary>
public sealed class ElfObjectFile
{
    public string Path { get; }
    public ReadOnlyMemory<byte> Bytes { get; }
    public ushort Machine { get; }
    public Elf64SectionHeader[] Sections { get; }
    /// <summary>Index of the SHT_SYMTAB section, or -1 when the object has none.</summary>
    public int SymtabIndex { get; } = -1;
    public int FirstGlobalSymbol { get; }
    readonly int _shstrndx;
    readonly int _symStrtab;
    readonly int _symtabShndx = -1;

    static readonly int HeaderSize = Unsafe.SizeOf<Elf64Header>();
    const int SectionHeaderSize = 64, SymbolSize = 24, RelaSize = 24;

    ElfObjectFile(string path, ReadOnlyMemory<byte> bytes)
    {
        Path = path;
        Bytes = bytes;
        var span = bytes.Span;
        if (span.Length < 4 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw Error("not an ELF file");
        if (span.Length < HeaderSize) throw Error("truncated ELF header");
        if (span[4] != ElfAbi.ClassElf64) throw Error("not a 64-bit ELF object");
        if (span[5] != ElfAbi.DataLsb) throw Error("not a little-endian ELF object");
        var eh = MemoryMarshal.Read<Elf64Header>(span);
        if (eh.Type != ElfAbi.EtRel)
            throw Error(eh.Type == ElfAbi.EtDyn ? "is a shared object, not a relocatable object" : $"not a relocatable object (e_type {eh.Type})");
        Machine = eh.Machine;
        if (eh.ShOff == 0) throw Error("has no section header table");
        if (eh.ShEntSize != SectionHeaderSize) throw Error($"bad section header size {eh.ShEntSize}");
        if (eh.ShOff > (ulong)span.Length || (ulong)span.Length - eh.ShOff < SectionHeaderSize)
            throw Error("section header table is past the end of the file (truncated?)");
        var sec0 = MemoryMarshal.Read<Elf64SectionHeader>(span[(int)eh.ShOff..]);
        // More than 0xff00 sections: e_shnum is 0 and section 0's size holds the count.
        ulong shnum = eh.ShNum == 0 ? sec0.Size : eh.ShNum;
        if (shnum > (ulong)(span.Length - (int)eh.ShOff) / SectionHeaderSize)
            throw Error($"section header table ({shnum} entries) is past the end of the file (truncated?)");
        Sections = MemoryMarshal.Cast<byte, Elf64SectionHeader>(span.Slice((int)eh.ShOff, (int)shnum * SectionHeaderSize)).ToArray();
        _shstrndx = eh.ShStrNdx == ElfAbi.ShnXIndex ? (int)Math.Min(sec0.Link, int.MaxValue) : eh.ShStrNdx;
        if (_shstrndx <= 0 || _shstrndx >= Sections.Length || Sections[_shstrndx].Type != ElfAbi.ShtStrtab)
            throw Error("bad section name string table index");

        for (int i = 1; i < Sections.Length; i++)
        {
            ref readonly var sh = ref Sections[i];
            if (HasFileData(sh) && (sh.Offset > (ulong)span.Length || sh.Size > (ulong)span.Length - sh.Offset))
                throw Error($"section #{i} extends past the end of the file (truncated?)");
            if (sh.Type == ElfAbi.ShtSymtab)
            {
                if (SymtabIndex >= 0) throw Error("has more than one symbol table");
                SymtabIndex = i;
            }
            else if (sh.Type == ElfAbi.ShtSymtabShndx)
            {
                if (_symtabShndx >= 0) throw Error("has more than one SHT_SYMTAB_SHNDX section");
                _symtabShndx = i;
            }
        }
        // The string tables are known good now; names are read once.
        SectionNames = new string[Sections.Length];
        for (int i = 0; i < Sections.Length; i++) SectionNames[i] = ReadString(_shstrndx, Sections[i].Name, "section name");
        for (int i = 1; i < Sections.Length; i++)
        {
            ref readonly var sh = ref Sections[i];
            if ((sh.Flags & ElfAbi.ShfAlloc) == 0 || sh.Type == ElfAbi.ShtNull) continue;
            // Only what is loaded matters; debug sections may say what they like about alignment.
            if (sh.AddrAlign > 1 && (sh.AddrAlign & (sh.AddrAlign - 1)) != 0)
                throw Error($"section {SectionNames[i]} has alignment {sh.AddrAlign}, not a power of two");
            if (sh.AddrAlign > LinkLimits.MaxAlignment)
                throw Error($"section {SectionNames[i]} asks for alignment {sh.AddrAlign}, more than the {LinkLimits.Describe(LinkLimits.MaxAlignment)} limit");
            if (sh.Size > LinkLimits.MaxImageBytes)
                throw Error($"section {SectionNames[i]} has size {sh.Size}, more than the {LinkLimits.Describe(LinkLimits.MaxImageBytes)} limit");
        }

        if (SymtabIndex >= 0)
        {
            ref readonly var st = ref Sections[SymtabIndex];
            if (st.EntSize != SymbolSize || st.Size % SymbolSize != 0 || !HasFileData(st)) throw Error("bad symbol table entry size");
            if (st.Link == 0 || st.Link >= (uint)Sections.Length || Sections[st.Link].Type != ElfAbi.ShtStrtab)
                throw Error("symbol table has a bad string table link");
            _symStrtab = (int)st.Link;
            FirstGlobalSymbol = (int)Math.Min(st.Info, st.Size / SymbolSize);
            if (_symtabShndx >= 0)
            {
                ref readonly var x = ref Sections[_symtabShndx];
                if (!HasFileData(x) || x.Link != (uint)SymtabIndex || x.Size < st.Size / SymbolSize * 4)
                    throw Error("SHT_SYMTAB_SHNDX section does not match the symbol table");
            }
        }
        else if (_symtabShndx >= 0) throw Error("has an SHT_SYMTAB_SHNDX section but no symbol table");
    }

    /// <summary>Sections whose bytes are in the file (and so were bounds-checked): not SHT_NOBITS, not SHT_NULL.</summary>
    static bool HasFileData(in Elf64SectionHeader sh) => sh.Type != ElfAbi.ShtNobits && sh.Type != ElfAbi.ShtNull;

    public static ElfObjectFile Parse(string path, ReadOnlyMemory<byte> bytes) => new(path, bytes);

    /// <summary>The string table of an object's symbol table, found by reading only the section headers;
    /// the whole input when it is not a well-formed ELF64 object (callers only search it).</summary>
    public static ReadOnlySpan<byte> SymbolStringTable(ReadOnlySpan<byte> file)
    {
        if (file.Length < HeaderSize || !file.StartsWith("\u007fELF"u8)) return file;
        var h = MemoryMarshal.Read<Elf64Header>(file);
        const ulong shdrSize = SectionHeaderSize;
        if (h.ShEntSize != shdrSize || h.ShOff > (ulong)file.Length || (ulong)h.ShNum * shdrSize > (ulong)file.Length - h.ShOff) return file;
        var sections = MemoryMarshal.Cast<byte, Elf64SectionHeader>(file.Slice((int)h.ShOff, h.ShNum * (int)shdrSize));
        foreach (ref readonly var sh in sections)
        {
            if (sh.Type != ElfAbi.ShtSymtab || sh.Link >= (uint)sections.Length) continue;
            ref readonly var str = ref sections[(int)sh.Link];
            if (str.Offset > (ulong)file.Length || str.Size > (ulong)file.Length - str.Offset) return file;
            return file.Slice((int)str.Offset, (int)str.Size);
        }
        return file;
    }

    public LinkError Error(string what) => new($"{Path}: {what}");

    /// <summary>A section's bytes; empty for SHT_NOBITS and SHT_NULL (their offsets mean nothing).</summary>
    public ReadOnlySpan<byte> SectionData(int index)
    {
        ref readonly var sh = ref Sections[index];
        return HasFileData(sh) ? Bytes.Span.Slice((int)sh.Offset, (int)sh.Size) : default;
    }

    public ReadOnlyMemory<byte> SectionMemory(int index)
    {
        ref readonly var sh = ref Sections[index];
        return HasFileData(sh) ? Bytes.Slice((int)sh.Offset, (int)sh.Size) : default;
    }

    public string[] SectionNames { get; }
    public string SectionName(int index) => SectionNames[index];

    /// <summary>Whether a symbol's st_shndx is a reserved value (SHN_ABS, SHN_COMMON ...). Only an index
    /// written in the symbol itself can be: one reached through SHN_XINDEX is a real section, even above
    /// 0xff00 (objects with that many sections).</summary>
    public static bool HasReservedIndex(in Elf64Symbol sym) => sym.Shndx != ElfAbi.ShnXIndex && sym.Shndx >= ElfAbi.ShnLoReserve;

    /// <summary>What a symbol's section names, for messages: a section's name, or the reserved index
    /// (SHN_ABS, SHN_COMMON, or its number).</summary>
    string SectionOf(int symbolIndex, in Elf64Symbol sym)
    {
        if (HasReservedIndex(sym))
            return sym.Shndx switch { ElfAbi.ShnAbs => "SHN_ABS", ElfAbi.ShnCommon => "SHN_COMMON", _ => $"reserved section index 0x{sym.Shndx:x}" };
        int index = SymbolSectionIndex(symbolIndex, sym);
        return index == ElfAbi.ShnUndef ? "SHN_UNDEF" : SectionNames[index];
    }

    public int SymbolCount => SymtabIndex < 0 ? 0 : (int)(Sections[SymtabIndex].Size / SymbolSize);

    public ReadOnlySpan<Elf64Symbol> Symbols =>
        SymtabIndex < 0 ? default : MemoryMarshal.Cast<byte, Elf64Symbol>(SectionData(SymtabIndex));

    public string SymbolName(in Elf64Symbol sym) => ReadString(_symStrtab, sym.Name, "symbol name");

    /// <summary>A symbol's name for messages: section symbols are named after their section.</summary>
    public string SymbolDisplayName(int symbolIndex)
    {
        if (symbolIndex <= 0 || symbolIndex >= SymbolCount) return $"symbol #{symbolIndex}";
        ref readonly var s = ref Symbols[symbolIndex];
        if (s.Type != ElfAbi.SttSection) return SymbolName(s);
        return SectionOf(symbolIndex, s);
    }

    /// <summary>The section a symbol is defined in, resolving SHN_XINDEX: a real section index (below
    /// <see cref="Sections"/>.Length), or, when <see cref="HasReservedIndex"/>, a reserved value that
    /// callers must handle; SHN_UNDEF is 0.</summary>
    public int SymbolSectionIndex(int symbolIndex, in Elf64Symbol sym)
    {
        if (sym.Shndx == ElfAbi.ShnXIndex)
        {
            if (_symtabShndx < 0) throw Error("symbol uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section");
            // In bounds: the constructor checked the section holds a word for every symbol.
            uint ix = MemoryMarshal.Cast<byte, uint>(SectionData(_symtabShndx))[symbolIndex];
            if (ix >= (uint)Sections.Length) throw Error($"symbol #{symbolIndex} has a bad section index {ix}");
            return (int)ix;
        }
        if (sym.Shndx < ElfAbi.ShnLoReserve && sym.Shndx >= Sections.Length)
            throw Error($"symbol #{symbolIndex} has a bad section index {sym.Shndx}");
        return sym.Shndx;
    }

    public ReadOnlySpan<Elf64Rela> Relocations(int relaSection)
    {
        ref readonly var sh = ref Sections[relaSection];
        if (sh.EntSize != RelaSize || sh.Size % RelaSize != 0 || !HasFileData(sh))
            throw Error($"section {SectionName(relaSection)}: bad relocation entry size");
        return MemoryMarshal.Cast<byte, Elf64Rela>(SectionData(relaSection));
    }

    /// <summary>Members of an SHT_GROUP section: flags word, then section indices.</summary>
    public ReadOnlySpan<uint> GroupWords(int groupSection)
    {
        var data = SectionData(groupSection);
        if (data.Length < 4 || data.Length % 4 != 0) throw Error($"section {SectionName(groupSection)}: malformed section group");
        return MemoryMarshal.Cast<byte, uint>(data);
    }

    string ReadString(int strtab, uint offset, string what)
    {
        var data = SectionData(strtab);
        if (offset >= (uint)data.Length) throw Error($"{what} offset {offset} is outside its string table");
        var rest = data[(int)offset..];
        int end = rest.IndexOf((byte)0);
        if (end < 0) throw Error($"{what} at offset {offset} is not NUL-terminated");
        return end == 0 ? "" : Encoding.UTF8.GetString(rest[..end]);
    }
}
