using System.Buffers.Binary;
using System.Text;
using Xunit;

namespace OrcSharp.Tests.Cli;

/// <summary>
/// Issue 16 §1, one field at a time: every kind of field the reader and graph builder take from a file
/// (indices, offsets, sizes, counts, entry sizes, alignments, string offsets, relocation offsets and
/// symbol indices, section links, group members, archive member headers and the archive symbol index)
/// set to a value that cannot be right. Each is one "orcsharp: error:" line naming the input and what is
/// wrong, exit status 1. The fuzz harness covers combinations; these pin down each check by name.
/// </summary>
public class MalformedFieldTests
{
    const string Program = "#include <stdio.h>\nint helper(int x);\nint counter = 3;\n" +
                           "int main(void) { printf(\"%d\\n\", helper(counter)); return 0; }\nint helper(int x) { return x + 1; }\n";
    const string Inline = "#include <cstdio>\ninline int twice(int x) { return 2 * x; }\nint main() { std::printf(\"%d\\n\", twice(21)); return 0; }\n";

    static void U16(byte[] b, int at, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), v);
    static void U32(byte[] b, int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), v);
    static void U64(byte[] b, int at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), v);

    /// <summary>Field name → (the change, what the error line must say). Offsets come from the object itself.</summary>
    static readonly Dictionary<string, (Action<ElfBytes> Change, string Says)> ObjectFields = new()
    {
        ["e_shoff"] = (e => U64(e.Bytes, 0x28, 0xffff_ffff_ffff_f000), "section header table is past the end of the file"),
        ["e_shnum"] = (e => U16(e.Bytes, 0x3c, 0xfff0), "section header table (65520 entries) is past the end of the file"),
        ["e_shentsize"] = (e => U16(e.Bytes, 0x3a, 40), "bad section header size 40"),
        ["e_shstrndx"] = (e => U16(e.Bytes, 0x3e, 0xfff0), "bad section name string table index"),
        ["sh_name"] = (e => U32(e.Bytes, e.SectionHeader(e.Section(".text")), 0x7fff_fff0), "section name offset 2147483632 is outside its string table"),
        ["sh_addralign"] = (e => e.SetAlignment(e.Section(".text"), 3), "section .text has alignment 3, not a power of two"),
        ["sh_size"] = (e => e.SetSize(e.Section(".text"), 0x7fff_0000), "extends past the end of the file"),
        ["sh_entsize of .symtab"] = (e => U64(e.Bytes, e.SectionHeader(e.SymtabIndex) + 56, 23), "bad symbol table entry size"),
        ["sh_size of .rela.text"] = (e => e.SetSize(e.Section(".rela.text"), (ulong)e.Size(e.Section(".rela.text")) - 5), "section .rela.text: bad relocation entry size"),
        ["sh_info of .rela.text"] = (e => U32(e.Bytes, e.SectionHeader(e.Section(".rela.text")) + 44, 0x7777), "section .rela.text: relocation section targets bad section index 30583"),
        ["sh_link of .rela.text"] = (e => U32(e.Bytes, e.SectionHeader(e.Section(".rela.text")) + 40, (uint)e.Section(".text")), "relocation section does not use the object's symbol table"),
        ["st_name"] = (e => U32(e.Bytes, e.Symbol("helper"), 0x7fff_fff0), "symbol name offset 2147483632 is outside its string table"),
        ["st_value"] = (e => U64(e.Bytes, e.Symbol("helper") + 8, 0x7f_ffff_ff00), "symbol 'helper' lies outside its section .text"),
        ["st_shndx"] = (e => U16(e.Bytes, e.Symbol("counter") + 6, 0x7777), "has a bad section index 30583"),
        ["r_offset"] = (e => U64(e.Bytes, e.Relocations(".text").First(), (ulong)e.Size(e.Section(".text")) - 2), "is outside the section"),
        ["r_offset (huge)"] = (e => U64(e.Bytes, e.Relocations(".text").First(), 0xffff_ffff_ffff_fff0), "offset 0xfffffffffffffff0"),
        ["r_info symbol index"] = (e => U32(e.Bytes, e.Relocations(".text").First() + 12, 0x00ff_ffff), "relocation refers to bad symbol index 16777215"),
    };

    static readonly Dictionary<string, (Action<ElfBytes> Change, string Says)> GroupFields = new()
    {
        ["group member"] = (e => U32(e.Bytes, e.Offset(e.Section(".group")) + 4, 0x7777), "section .group: group member index 30583 is out of range"),
        ["group member 0"] = (e => U32(e.Bytes, e.Offset(e.Section(".group")) + 4, 0), "section .group: group member index 0 is out of range"),
        ["group signature"] = (e => U32(e.Bytes, e.SectionHeader(e.Section(".group")) + 44, 0x7777), "section group has a bad signature symbol"),
        ["group symbol table"] = (e => U32(e.Bytes, e.SectionHeader(e.Section(".group")) + 40, 0x7777), "section group has a bad signature symbol"),
        ["group size"] = (e => e.SetSize(e.Section(".group"), 6), "malformed section group"),
    };

    public static TheoryData<string> ObjectFieldNames() => new(ObjectFields.Keys);
    public static TheoryData<string> GroupFieldNames() => new(GroupFields.Keys);

    [Theory]
    [MemberData(nameof(ObjectFieldNames))]
    public void ObjectField(string field)
    {
        string dir = TestSupport.NewTempDir();
        var elf = ElfBytes.Load(TestSupport.CompileC(dir, "t", Program, "-O0"));
        Refused(dir, elf, ObjectFields[field]);
    }

    [Theory]
    [MemberData(nameof(GroupFieldNames))]
    public void GroupField(string field)
    {
        // A COMDAT group (the inline function) in the only object: its fields are checked even though
        // no other object's group makes this one a duplicate to drop.
        string dir = TestSupport.NewTempDir();
        var elf = ElfBytes.Load(TestSupport.CompileCxx(dir, "t", Inline, "-O0"));
        Refused(dir, elf, GroupFields[field]);
    }

    static void Refused(string dir, ElfBytes elf, (Action<ElfBytes> Change, string Says) c)
    {
        string path = Path.Combine(dir, "field.o");
        var unchanged = TestSupport.RunOrcsharp("run", Save(elf, path));
        Assert.True(unchanged.ExitCode == 0, "the unchanged object must run: " + unchanged.StderrText);
        c.Change(elf);
        HostileInputTests.AssertOneLineError(TestSupport.RunOrcsharp("run", Save(elf, path)), "field.o: ", c.Says);
    }

    static string Save(ElfBytes elf, string path)
    {
        elf.Save(path);
        return path;
    }

    /// <summary>Archive fields: a member header's size, terminator and long-name reference; the symbol
    /// index's size, count, member offsets and names. Each change gets the archive's bytes and the offsets
    /// of three headers: the symbol index's, the long-name table's and the member's.</summary>
    static readonly Dictionary<string, (Action<byte[], int, int, int> Change, string Says)> ArchiveFields = new()
    {
        ["member size (text)"] = ((b, _, _, m) => Text(b, m + 48, "abc       "), "bad member size at offset"),
        ["member size (past the end)"] = ((b, _, _, m) => Text(b, m + 48, "9999999999"), "extends past the end of the archive"),
        ["member size (negative)"] = ((b, _, _, m) => Text(b, m + 48, "-1        "), "bad member size at offset"),
        ["member header terminator"] = ((b, _, _, m) => Text(b, m + 58, "xx"), "bad member header at offset"),
        ["member long name offset"] = ((b, _, _, m) => Text(b, m, "/99999          "), "has a bad long-name reference /99999"),
        ["symbol index size"] = ((b, i, _, _) => Text(b, i + 48, "4         "), "bad member header at offset 72"),
        ["symbol index count"] = ((b, i, _, _) => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(i + 60), 0x7fff_ffff), "symbol index count exceeds the index"),
        ["symbol index member offset (past the end)"] = ((b, i, _, _) => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(i + 64), 0x7fff_fff0), "symbol index entry 'member_helper' points at no member"),
        ["symbol index member offset (inside a member)"] = ((b, i, _, m) => BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(i + 64), (uint)m + 10), "symbol index entry 'member_helper' points at no member"),
        ["symbol index names (unterminated)"] = ((b, i, n, _) => b.AsSpan(i + 68, n - i - 68).Fill((byte)'x'), "symbol index names are not NUL-terminated"),
    };

    public static TheoryData<string> ArchiveFieldNames() => new(ArchiveFields.Keys);

    static void Text(byte[] b, int at, string s) => Encoding.ASCII.GetBytes(s).CopyTo(b, at);

    [Theory]
    [MemberData(nameof(ArchiveFieldNames))]
    public void ArchiveField(string field)
    {
        string dir = TestSupport.NewTempDir();
        string main = TestSupport.CompileC(dir, "main", "#include <stdio.h>\nint member_helper(int x);\nint main(void) { printf(\"%d\\n\", member_helper(41)); return 0; }\n");
        string member = TestSupport.CompileC(dir, "member_with_a_rather_long_name", "int member_helper(int x) { return x + 1; }\n");
        string lib = Path.Combine(dir, "lib.a");
        Assert.Equal(0, TestSupport.Run("ar", "rcs", lib, member).ExitCode);
        var good = TestSupport.RunOrcsharp("run", main, lib);
        Assert.True(good.ExitCode == 0 && good.StdoutText == "42\n", "the unchanged archive must run: " + good.StderrText);

        var b = File.ReadAllBytes(lib);
        // ar's layout: the symbol index "/", the long-name table "//", then the member.
        var headers = new List<(int Offset, string Name)>();
        for (int at = 8; at + 60 <= b.Length;)
        {
            headers.Add((at, Encoding.ASCII.GetString(b, at, 16).TrimEnd()));
            int size = int.Parse(Encoding.ASCII.GetString(b, at + 48, 10).Trim());
            at += 60 + size + (size & 1);
        }
        Assert.Equal(["/", "//", "/0"], headers.Select(h => h.Name));
        var (change, says) = ArchiveFields[field];
        change(b, headers[0].Offset, headers[1].Offset, headers[2].Offset);
        File.WriteAllBytes(lib, b);
        HostileInputTests.AssertOneLineError(TestSupport.RunOrcsharp("run", main, lib), "lib.a", says);
    }
}
