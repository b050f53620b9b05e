using System.Buffers.Binary;
using System.Text;

namespace OrcSharp.Tests.Cli;

/// <summary>
/// Finds fields of a relocatable ELF64 object in its bytes, so tests can change one on purpose: section
/// headers by name, symbols by name, relocations of a section. Reads only what a well-formed object has.
/// </summary>
public sealed class ElfBytes(byte[] bytes)
{
    public byte[] Bytes { get; } = bytes;
    Span<byte> S => Bytes;

    public static ElfBytes Load(string path) => new(File.ReadAllBytes(path));
    public void Save(string path) => File.WriteAllBytes(path, Bytes);

    public int SectionCount => BinaryPrimitives.ReadUInt16LittleEndian(S[0x3c..]);
    public int SectionHeader(int index) => (int)BinaryPrimitives.ReadUInt64LittleEndian(S[0x28..]) + index * 64;

    public uint Type(int section) => BinaryPrimitives.ReadUInt32LittleEndian(S[(SectionHeader(section) + 4)..]);
    public int Link(int section) => (int)BinaryPrimitives.ReadUInt32LittleEndian(S[(SectionHeader(section) + 40)..]);
    public int Info(int section) => (int)BinaryPrimitives.ReadUInt32LittleEndian(S[(SectionHeader(section) + 44)..]);
    public int Offset(int section) => (int)BinaryPrimitives.ReadUInt64LittleEndian(S[(SectionHeader(section) + 24)..]);
    public int Size(int section) => (int)BinaryPrimitives.ReadUInt64LittleEndian(S[(SectionHeader(section) + 32)..]);

    public void SetSize(int section, ulong size) => BinaryPrimitives.WriteUInt64LittleEndian(S[(SectionHeader(section) + 32)..], size);
    public void SetAlignment(int section, ulong align) => BinaryPrimitives.WriteUInt64LittleEndian(S[(SectionHeader(section) + 48)..], align);

    public string SectionName(int section)
    {
        int shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(S[0x3e..]);
        int name = (int)BinaryPrimitives.ReadUInt32LittleEndian(S[SectionHeader(section)..]);
        return CString(Offset(shstrndx) + name);
    }

    public int Section(string name)
    {
        for (int i = 1; i < SectionCount; i++) if (SectionName(i) == name) return i;
        throw new InvalidOperationException($"no section {name}");
    }

    public int SymtabIndex => Symtab();

    int Symtab()
    {
        for (int i = 1; i < SectionCount; i++) if (Type(i) == 2) return i;
        throw new InvalidOperationException("no symbol table");
    }

    /// <summary>File offset of the symbol table entry named <paramref name="name"/>.</summary>
    public int Symbol(string name)
    {
        int symtab = Symtab(), strtab = Offset(Link(symtab));
        for (int off = Offset(symtab) + 24; off < Offset(symtab) + Size(symtab); off += 24)
            if (CString(strtab + (int)BinaryPrimitives.ReadUInt32LittleEndian(S[off..])) == name) return off;
        throw new InvalidOperationException($"no symbol {name}");
    }

    public int SymbolIndex(string name) => (Symbol(name) - Offset(Symtab())) / 24;

    /// <summary>File offsets of the relocations that apply to <paramref name="target"/>.</summary>
    public IEnumerable<int> Relocations(string target)
    {
        int t = Section(target);
        for (int i = 1; i < SectionCount; i++)
            if (Type(i) == 4 && Info(i) == t)
                for (int off = Offset(i); off < Offset(i) + Size(i); off += 24) yield return off;
    }

    /// <summary>File offset of the name (in the symbol string table) of symbol <paramref name="name"/>.</summary>
    public int SymbolNameOffset(string name)
    {
        int symtab = Symtab();
        return Offset(Link(symtab)) + (int)BinaryPrimitives.ReadUInt32LittleEndian(S[Symbol(name)..]);
    }

    string CString(int at)
    {
        int end = Array.IndexOf(Bytes, (byte)0, at);
        return Encoding.UTF8.GetString(Bytes, at, end - at);
    }
}
