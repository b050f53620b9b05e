using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.ObjectFile.Elf;

/// <summary>
/// A validated view of one ELF64 little-endian relocatable object. Every offset and size in the headers
/// is checked against the file once, here, so later stages can slice without re-checking.
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

    ElfObjectFile(string path, ReadOnlyMemory<byte> bytes)
    {
        Path = path;
        Bytes = bytes;
        var span = bytes.Span;
        if (span.Length < 4 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw Error("not an ELF file");
        if (span.Length < Marshal.SizeOf<Elf64Header>()) throw Error("truncated ELF header");
        if (span[4] != ElfAbi.ClassElf64) throw Error("not a 64-bit ELF object");
        if (span[5] != ElfAbi.DataLsb) throw Error("not a little-endian ELF object");
        var eh = MemoryMarshal.Read<Elf64Header>(span);
        if (eh.Type != ElfAbi.EtRel)
            throw Error(eh.Type == ElfAbi.EtDyn ? "is a shared object, not a relocatable object" : $"not a relocatable object (e_type {eh.Type})");
        Machine = eh.Machine;
        if (eh.ShOff == 0) throw Error("has no section header table");
        if (eh.ShEntSize != Marshal.SizeOf<Elf64SectionHeader>()) throw Error($"bad section header size {eh.ShEntSize}");
        if (eh.ShOff > (ulong)span.Length || (ulong)span.Length - eh.ShOff < (ulong)Marshal.SizeOf<Elf64SectionHeader>())
            throw Error("section header table is past the end of the file (truncated?)");
        var sec0 = MemoryMarshal.Read<Elf64SectionHeader>(span[(int)eh.ShOff..]);
        ulong shnum = eh.ShNum == 0 ? sec0.Size : eh.ShNum;
        if (shnum > (ulong)(span.Length - (int)eh.ShOff) / 64)
            throw Error($"section header table ({shnum} entries) is past the end of the file (truncated?)");
        Sections = MemoryMarshal.Cast<byte, Elf64SectionHeader>(span.Slice((int)eh.ShOff, (int)shnum * 64)).ToArray();
        _shstrndx = eh.ShStrNdx == ElfAbi.ShnXIndex ? (int)sec0.Link : eh.ShStrNdx;
        if (_shstrndx <= 0 || _shstrndx >= Sections.Length || Sections[_shstrndx].Type != ElfAbi.ShtStrtab)
            throw Error("bad section name string table index");

        for (int i = 0; i < Sections.Length; i++)
        {
            ref readonly var sh = ref Sections[i];
            if (sh.Type != ElfAbi.ShtNobits && sh.Type != ElfAbi.ShtNull &&
                (sh.Offset > (ulong)span.Length || sh.Size > (ulong)span.Length - sh.Offset))
                throw Error($"section #{i} extends past the end of the file (truncated?)");
            if (sh.AddrAlign > 1 && (sh.AddrAlign & (sh.AddrAlign - 1)) != 0)
                throw Error($"section #{i} has alignment {sh.AddrAlign}, not a power of two");
            if (sh.Type == ElfAbi.ShtSymtab)
            {
                if (SymtabIndex >= 0) throw Error("has more than one symbol table");
                SymtabIndex = i;
            }
            else if (sh.Type == ElfAbi.ShtSymtabShndx) _symtabShndx = i;
        }
        SectionNames = new string[Sections.Length];
        for (int i = 0; i < Sections.Length; i++) SectionNames[i] = ReadString(_shstrndx, Sections[i].Name, "section name");

        if (SymtabIndex >= 0)
        {
            ref readonly var st = ref Sections[SymtabIndex];
            if (st.EntSize != 24 || st.Size % 24 != 0) throw Error("bad symbol table entry size");
            _symStrtab = (int)st.Link;
            if (_symStrtab <= 0 || _symStrtab >= Sections.Length || Sections[_symStrtab].Type != ElfAbi.ShtStrtab)
                throw Error("symbol table has a bad string table link");
            FirstGlobalSymbol = (int)Math.Min(st.Info, st.Size / 24);
            if (_symtabShndx >= 0 && Sections[_symtabShndx].Size < st.Size / 24 * 4)
                throw Error("SHT_SYMTAB_SHNDX section is too small");
        }
    }

    public static ElfObjectFile Parse(string path, ReadOnlyMemory<byte> bytes) => new(path, bytes);

    /// <summary>The string table of an object's symbol table, found by reading only the section headers;
    /// the whole input when it is not a well-formed ELF64 object (callers only search it).</summary>
    public static ReadOnlySpan<byte> SymbolStringTable(ReadOnlySpan<byte> file)
    {
        if (file.Length < Unsafe.SizeOf<Elf64Header>() || !file.StartsWith("\u007fELF"u8)) return file;
        var h = MemoryMarshal.Read<Elf64Header>(file);
        ulong shdrSize = (ulong)Unsafe.SizeOf<Elf64SectionHeader>();
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

    public ReadOnlySpan<byte> SectionData(int index)
    {
        ref readonly var sh = ref Sections[index];
        return sh.Type == ElfAbi.ShtNobits ? default : Bytes.Span.Slice((int)sh.Offset, (int)sh.Size);
    }

    public ReadOnlyMemory<byte> SectionMemory(int index)
    {
        ref readonly var sh = ref Sections[index];
        return sh.Type == ElfAbi.ShtNobits ? default : Bytes.Slice((int)sh.Offset, (int)sh.Size);
    }

    public string[] SectionNames { get; }
    public string SectionName(int index) => SectionNames[index];

    public int SymbolCount => SymtabIndex < 0 ? 0 : (int)(Sections[SymtabIndex].Size / 24);

    public ReadOnlySpan<Elf64Symbol> Symbols =>
        SymtabIndex < 0 ? default : MemoryMarshal.Cast<byte, Elf64Symbol>(SectionData(SymtabIndex));

    public string SymbolName(in Elf64Symbol sym) => ReadString(_symStrtab, sym.Name, "symbol name");

    /// <summary>The section a symbol is defined in, resolving SHN_XINDEX; reserved indices come back as is.</summary>
    public int SymbolSectionIndex(int symbolIndex, in Elf64Symbol sym)
    {
        if (sym.Shndx == ElfAbi.ShnXIndex)
        {
            if (_symtabShndx < 0) throw Error("symbol uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section");
            int ix = (int)MemoryMarshal.Cast<byte, uint>(SectionData(_symtabShndx))[symbolIndex];
            if (ix >= Sections.Length) throw Error($"symbol #{symbolIndex} has a bad section index {ix}");
            return ix;
        }
        if (sym.Shndx < ElfAbi.ShnLoReserve && sym.Shndx >= Sections.Length)
            throw Error($"symbol #{symbolIndex} has a bad section index {sym.Shndx}");
        return sym.Shndx;
    }

    public ReadOnlySpan<Elf64Rela> Relocations(int relaSection)
    {
        ref readonly var sh = ref Sections[relaSection];
        if (sh.EntSize != 24 || sh.Size % 24 != 0) throw Error($"section {SectionName(relaSection)}: bad relocation entry size");
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
