using System.Buffers.Binary;
using System.Text;
using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Cli;

/// <summary>
/// Inputs an attacker would try (issue 16): one changed field, hostile sizes, names with control
/// characters, special files, and inputs far larger than usual. Each gives one "orcsharp: error:" line
/// naming the input and exit status 1, or a good run, never a crash, a hang or an internal error.
/// </summary>
public class HostileInputTests
{
    const string Hello = "#include <stdio.h>\nint main(void) { puts(\"RAN\"); return 0; }\n";

    internal static void AssertOneLineError(ProcessResult r, params string[] mentions)
    {
        Assert.False(r.TimedOut, "orcsharp did not finish");
        Assert.True(r.ExitCode == 1, $"exit status {r.ExitCode}: {r.StderrText}");
        Assert.Empty(r.Stdout);
        var lines = r.StderrText.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, "expected one line, got: " + r.StderrText);
        Assert.StartsWith("orcsharp: error: ", lines[0]);
        Assert.DoesNotContain("internal error", lines[0]);
        Assert.DoesNotContain('\r', lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    static (string Dir, ElfBytes Elf) Object(string source, string flags = "-O1")
    {
        string dir = TestSupport.NewTempDir();
        return (dir, ElfBytes.Load(TestSupport.CompileC(dir, "t", source, flags)));
    }

    static string Save(string dir, ElfBytes elf, string name)
    {
        string path = Path.Combine(dir, name);
        elf.Save(path);
        return path;
    }

    [Fact]
    public void RelocationAgainstASectionSymbolWithAReservedIndex()
    {
        // The string "RAN" is reached through the .rodata section symbol; its st_shndx moved into the
        // reserved range (not ABS, COMMON or XINDEX) used to give IndexOutOfRangeException.
        var (dir, elf) = Object(Hello, "-O0");
        int rodata = elf.Section(".rodata");
        int symtab = Enumerable.Range(1, elf.SectionCount - 1).First(i => elf.Type(i) == 2);
        int patched = 0;
        for (int off = elf.Offset(symtab); off < elf.Offset(symtab) + elf.Size(symtab); off += 24)
            if ((elf.Bytes[off + 4] & 0xf) == 3 && BinaryPrimitives.ReadUInt16LittleEndian(elf.Bytes.AsSpan(off + 6)) == rodata)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(elf.Bytes.AsSpan(off + 6), 0xff05);
                patched++;
            }
        Assert.Equal(1, patched);
        AssertOneLineError(TestSupport.RunOrcsharp("run", Save(dir, elf, "reserved.o")), "reserved.o", "reserved section index 0xff05");
    }

    [Fact]
    public void DefinitionWithAReservedSectionIndex()
    {
        var (dir, elf) = Object(Hello);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.Bytes.AsSpan(elf.Symbol("main") + 6), 0xff3f);
        AssertOneLineError(TestSupport.RunOrcsharp("run", Save(dir, elf, "reserved.o")), "reserved.o", "'main'", "section index 0xff3f");
    }

    [Fact]
    public void HugeAlignmentIsRefusedBeforeAnythingIsAllocated()
    {
        // Used to commit 4.2 GB (the padding to a 2^32 boundary) before failing.
        var (dir, elf) = Object(Hello);
        elf.SetAlignment(elf.Section(".text"), 1UL << 32);
        string bad = Save(dir, elf, "aligned.o");
        var r = ProcessRunner.Run("/usr/bin/time", ["-f", "maxrss_kb=%M", "-o", Path.Combine(dir, "rss"), TestSupport.Orcsharp, "run", bad], dir, 120000);
        AssertOneLineError(r, "aligned.o", "alignment 4294967296", "16 MiB limit");
        long rssKb = long.Parse(File.ReadAllText(Path.Combine(dir, "rss")).Trim().Split('=')[1]);
        Assert.True(rssKb < 512 * 1024, $"peak RSS {rssKb} KiB");
    }

    [Fact]
    public void HugeZeroFillSectionIsRefused()
    {
        var (dir, elf) = Object("static char big[64];\nint main(void) { return big[3]; }\n");
        elf.SetSize(elf.Section(".bss"), 0xff00_0000_0000_0040);
        AssertOneLineError(TestSupport.RunOrcsharp("run", Save(dir, elf, "bss.o")), "bss.o", "section .bss", "2 GiB limit");
    }

    [Fact]
    public void ThreadLocalTemplateTooLargeIsRefusedNotPassedToTheRestart()
    {
        // A TLS size taken from a mutated object was handed to the static-TLS restart, and glibc then
        // died before main with status 127 ("cannot allocate TLS data structures for initial thread").
        var (dir, elf) = Object("_Thread_local int counter;\nint main(void) { return counter; }\n", "-O2");
        elf.SetSize(elf.Section(".tbss"), 0x5000_0000);
        AssertOneLineError(TestSupport.RunOrcsharp("run", Save(dir, elf, "tls.o")), "thread-local storage of", "1 GiB limit");
    }

    [Fact]
    public void UnwindInfoDescribingCodeOutsideTheLinkIsRefused()
    {
        // Registered FDEs are consulted for every address in the process: one whose range strays beyond
        // its function would mislead the unwinder about the host's own code.
        var (dir, elf) = Object(Hello, "-O2");
        int eh = elf.Offset(elf.Section(".eh_frame"));
        int cieLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(elf.Bytes.AsSpan(eh));
        int fde = eh + 4 + cieLength;
        Assert.NotEqual(0u, BinaryPrimitives.ReadUInt32LittleEndian(elf.Bytes.AsSpan(fde + 4))); // an FDE
        BinaryPrimitives.WriteUInt32LittleEndian(elf.Bytes.AsSpan(fde + 12), 0x7fff_0000); // pc_range
        foreach (var oop in new[] { false, true })
            AssertOneLineError(TestSupport.RunOrcsharp(oop ? ["run", "--oop", Save(dir, elf, "fde.o")] : ["run", Save(dir, elf, "fde.o")]),
                "fde.o", "section .eh_frame", "which is not code of this link");
    }

    [Fact]
    public void ControlCharactersInNamesAreEscapedOnTheOneLine()
    {
        var (dir, elf) = Object("int helper_xyz(void);\nint main(void) { return helper_xyz(); }\n");
        int name = elf.SymbolNameOffset("helper_xyz");
        elf.Bytes[name + 6] = (byte)'\n';
        elf.Bytes[name + 7] = (byte)'\r';
        elf.Bytes[name + 8] = 0x1b;
        AssertOneLineError(TestSupport.RunOrcsharp("run", Save(dir, elf, "names.o")), "undefined symbol 'helper\\n\\r\\x1bz'");

        // An archive member whose name carries control characters ('\n' cannot be stored: ar's name
        // table ends names with it), named as the origin of an undefined reference.
        string member = Path.Combine(dir, "bad\r\u001bname.o");
        File.Copy(TestSupport.CompileC(dir, "m", "int nowhere_xyz(void);\nint from_member(void) { return nowhere_xyz(); }\n"), member);
        string main = TestSupport.CompileC(dir, "main", "int from_member(void);\nint main(void) { return from_member(); }\n");
        string lib = Path.Combine(dir, "lib.a");
        Assert.Equal(0, TestSupport.Run("ar", "rcs", lib, member).ExitCode);
        AssertOneLineError(TestSupport.RunOrcsharp("run", main, lib), "undefined symbol 'nowhere_xyz'", "lib.a(bad\\r\\x1bname.o)");
    }

    [Fact]
    public void SectionNameWithControlCharactersIsEscaped()
    {
        var (dir, elf) = Object("__attribute__((section(\"odd_sect\"))) int v = 1;\nint w(void);\nint main(void) { return v + w(); }\n");
        int shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(elf.Bytes.AsSpan(0x3e));
        int at = elf.Bytes.AsSpan(elf.Offset(shstrndx), elf.Size(shstrndx)).IndexOf("odd_sect"u8) + elf.Offset(shstrndx);
        elf.Bytes[at + 3] = (byte)'\n';
        // Make it writable and executable, an error that names the section.
        int sect = elf.Section("odd\nsect");
        BinaryPrimitives.WriteUInt64LittleEndian(elf.Bytes.AsSpan(elf.SectionHeader(sect) + 8), 0x7);
        AssertOneLineError(TestSupport.RunOrcsharp("run", Save(dir, elf, "sect.o")), "section odd\\nsect", "writable and executable");
    }

    [Fact]
    public void LinkerScriptsThatNestWithoutEnd()
    {
        string dir = TestSupport.NewTempDir();
        // AS_NEEDED inside AS_NEEDED fifty thousand times (the parser recursed once per level).
        string deep = Path.Combine(dir, "deep.so");
        File.WriteAllText(deep, "GROUP ( " + string.Concat(Enumerable.Repeat("AS_NEEDED ( ", 50_000)) + string.Concat(Enumerable.Repeat(") ", 50_001)));
        AssertOneLineError(TestSupport.RunOrcsharp("run", deep), "deep.so", "nest more than 8 deep");
        // Scripts that name each other in a chain longer than any real one.
        for (int i = 0; i < 40; i++) File.WriteAllText(Path.Combine(dir, $"libchain{i}.so"), $"INPUT ( -lchain{i + 1} )\n");
        var obj = TestSupport.CompileC(dir, "t", Hello);
        AssertOneLineError(TestSupport.RunOrcsharp("run", "-L", dir, "-l", "chain0", obj), "nest too deeply");
        // A script that names itself is read once.
        File.WriteAllText(Path.Combine(dir, "libself.so"), "GROUP ( libself.so )\n");
        var r = TestSupport.RunOrcsharp("run", "-L", dir, "-l", "self", obj);
        Assert.True(r.ExitCode == 0, r.StderrText);
        // A "script" of 2 MB.
        string big = Path.Combine(dir, "big.so");
        File.WriteAllText(big, "/* " + new string('x', 2 << 20) + " */ GROUP ( )\n");
        AssertOneLineError(TestSupport.RunOrcsharp("run", big), "big.so", "larger than 1 MiB");
    }

    [Fact]
    public void DirectoryIsReportedAsADirectory()
    {
        string dir = TestSupport.NewTempDir();
        AssertOneLineError(TestSupport.RunOrcsharp("run", dir), dir, "is a directory");
    }

    [Fact]
    public void FifoWithoutAWriterIsAnErrorNotAWait()
    {
        string dir = TestSupport.NewTempDir();
        string fifo = Path.Combine(dir, "fifo");
        Assert.Equal(0, TestSupport.Run("mkfifo", fifo).ExitCode);
        AssertOneLineError(TestSupport.RunOrcsharp("run", fifo), fifo, "no process opened the FIFO for writing");
    }

    [Fact]
    public void SpecialFilesAreCleanErrors()
    {
        AssertOneLineError(TestSupport.RunOrcsharp("run", "/dev/zero"), "/dev/zero", "file format not recognized");
        AssertOneLineError(TestSupport.RunOrcsharp("run", "/dev/null"), "/dev/null", "empty");
    }

    [Fact]
    public void SparseFilesOfTwoGigabytes()
    {
        string dir = TestSupport.NewTempDir();
        string big = Path.Combine(dir, "big.o"), almost = Path.Combine(dir, "almost.o");
        Assert.Equal(0, TestSupport.Run("truncate", "-s", "2G", big).ExitCode);
        Assert.Equal(0, TestSupport.Run("truncate", "-s", "2147483647", almost).ExitCode);
        try
        {
            AssertOneLineError(TestSupport.RunOrcsharp("run", big), "big.o", "larger than 2 GiB");
            AssertOneLineError(TestSupport.RunOrcsharp("run", almost), "almost.o", "file format not recognized");
        }
        finally { File.Delete(big); File.Delete(almost); }
    }

    [Fact]
    public void ArchiveWithTenThousandMembers()
    {
        string dir = TestSupport.NewTempDir();
        string main = TestSupport.CompileC(dir, "main", "#include <stdio.h>\nint member_fn(void);\nint main(void) { printf(\"%d\\n\", member_fn()); return 0; }\n");
        var member = File.ReadAllBytes(TestSupport.CompileC(dir, "m", "int member_fn(void) { return 42; }\n"));
        // Written here (ar appending 10,000 members one xargs batch at a time takes minutes on a busy
        // machine); ranlib then adds the symbol index as for any archive.
        string lib = Path.Combine(dir, "big.a");
        using (var ar = File.Create(lib))
        {
            ar.Write("!<arch>\n"u8);
            for (int i = 0; i < 10_000; i++)
            {
                ar.Write(Encoding.ASCII.GetBytes($"{$"member_{i:d5}.o/",-16}{"0",-12}{"0",-6}{"0",-6}{"644",-8}{member.Length,-10}`\n"));
                ar.Write(member);
                if (member.Length % 2 == 1) ar.WriteByte((byte)'\n');
            }
        }
        Assert.Equal(0, ProcessRunner.Run("ranlib", [lib], dir, 300000).ExitCode);
        var r = TestSupport.RunOrcsharp("run", main, lib);
        Assert.True(r.ExitCode == 0, r.StderrText);
        Assert.Equal("42\n", r.StdoutText);
    }

    [Fact]
    public void ObjectWithTwoHundredThousandSymbols()
    {
        string dir = TestSupport.NewTempDir();
        var asm = new StringBuilder("\t.data\n");
        for (int i = 0; i < 200_000; i++) asm.Append("\t.globl sym_").Append(i).Append("\nsym_").Append(i).Append(":\t.long ").Append(i).Append('\n');
        asm.Append("\t.section .note.GNU-stack,\"\",@progbits\n");
        File.WriteAllText(Path.Combine(dir, "many.s"), asm.ToString());
        Assert.Equal(0, ProcessRunner.Run("cc", ["-c", "many.s", "-o", "many.o"], dir, 120000).ExitCode);
        string main = TestSupport.CompileC(dir, "main", "#include <stdio.h>\nextern int sym_199999, sym_7;\nint main(void) { printf(\"%d %d\\n\", sym_199999, sym_7); return 0; }\n");
        var r = TestSupport.RunOrcsharp("run", main, Path.Combine(dir, "many.o"));
        Assert.True(r.ExitCode == 0, r.StderrText);
        Assert.Equal("199999 7\n", r.StdoutText);
    }

    [Fact]
    public void TwoThousandObjectsAtOnce()
    {
        string dir = TestSupport.NewTempDir();
        string main = TestSupport.CompileC(dir, "main", "#include <stdio.h>\nint shared_weak(void);\nint main(void) { printf(\"%d\\n\", shared_weak()); return 0; }\n");
        var weak = File.ReadAllBytes(TestSupport.CompileC(dir, "w", "static int count;\n__attribute__((weak)) int shared_weak(void) { return ++count + 6; }\n"));
        var args = new List<string> { "run", main };
        for (int i = 0; i < 2000; i++)
        {
            string p = Path.Combine(dir, $"o{i}.o");
            File.WriteAllBytes(p, weak);
            args.Add(p);
        }
        var r = TestSupport.RunOrcsharp([.. args]);
        Assert.True(r.ExitCode == 0, r.StderrText);
        Assert.Equal("7\n", r.StdoutText);
    }
}
