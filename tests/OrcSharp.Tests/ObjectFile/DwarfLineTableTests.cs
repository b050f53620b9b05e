using OrcSharp.ObjectFile.Dwarf;
using OrcSharp.ObjectFile.Elf;
using Xunit;

namespace OrcSharp.Tests.ObjectFile;

/// <summary>The .debug_line reader on hostile input: truncated and corrupted tables give
/// <see cref="BadImageFormatException"/> (which drops the line information of a link) and nothing else.
/// Its agreement with addr2line is checked on linked code in Debugging/DebugObjectTests.</summary>
public class DwarfLineTableTests
{
    static (byte[] Line, byte[] LineStr) DebugLine(string flags)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "lines", "#include <stdio.h>\nint f(int x) {\n  for (int i = 0; i < x; i++)\n    printf(\"%d\\n\", i);\n  return x;\n}\n", flags);
        var elf = ElfObjectFile.Parse(obj, File.ReadAllBytes(obj));
        byte[] Section(string name) => Array.IndexOf(elf.SectionNames, name) is var i and >= 0 ? elf.SectionData(i).ToArray() : [];
        return (Section(".debug_line"), Section(".debug_line_str"));
    }

    /// <summary>DWARF 4 names files inline, so an object's table reads right before relocation (DWARF 5's
    /// string offsets are relocations: that case runs on linked code).</summary>
    [Theory]
    [InlineData("-O2 -g -gdwarf-4")]
    [InlineData("-O0 -g -gdwarf-4")]
    public void ReadsTheTableOfAnObject(string flags)
    {
        var (line, lineStr) = DebugLine(flags);
        var rows = new List<DwarfLineRow>();
        var files = new DwarfFileNames();
        DwarfLineTable.Read(line, lineStr, [], rows, files);
        Assert.Contains(rows, r => r.Line == 4 && !r.EndSequence && files.Paths[r.File].EndsWith("lines.c"));
        Assert.True(rows[^1].EndSequence);
    }

    [Fact]
    public void TruncatedOrCorruptedTablesAreFormatErrorsOnly()
    {
        var (line, lineStr) = DebugLine("-O2 -g");
        void Read(byte[] data)
        {
            try { DwarfLineTable.Read(data, lineStr, [], new List<DwarfLineRow>(), new DwarfFileNames()); }
            catch (BadImageFormatException) { }
        }
        for (int n = 0; n < line.Length; n++) Read(line[..n]);
        var random = new Random(13);
        for (int round = 0; round < 3000; round++)
        {
            var copy = (byte[])line.Clone();
            for (int k = random.Next(1, 4); k > 0; k--) copy[random.Next(copy.Length)] = (byte)random.Next(256);
            Read(copy);
        }
    }
}
