using System.Buffers.Binary;
using Xunit;

namespace OrcSharp.Tests.Cli;

/// <summary>Bad input gives one line "orcsharp: error: ..." naming the culprit, exit status 1, and nothing runs.</summary>
public class BadInputTests
{
    const string Hello = "#include <stdio.h>\nint main(void) { puts(\"RAN\"); return 0; }\n";

    static void AssertOneLineError(OrcSharp.Conformance.ProcessResult r, params string[] mentions)
    {
        Assert.Equal(1, r.ExitCode);
        Assert.Empty(r.Stdout); // nothing ran
        var lines = r.StderrText.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, "expected one line, got: " + r.StderrText);
        Assert.StartsWith("orcsharp: error: ", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    [Fact]
    public void TruncatedObject()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "t", Hello);
        var bytes = File.ReadAllBytes(obj);
        string cut = Path.Combine(dir, "cut.o");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        AssertOneLineError(TestSupport.RunOrcsharp("run", cut), "cut.o", "truncated");
        File.WriteAllBytes(cut, bytes[..40]);
        AssertOneLineError(TestSupport.RunOrcsharp("run", cut), "cut.o");
    }

    [Fact]
    public void CorruptedSectionHeader()
    {
        string dir = TestSupport.NewTempDir();
        var bytes = File.ReadAllBytes(TestSupport.CompileC(dir, "t", Hello));
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x28));
        // Make section 1's offset point far past the end of the file.
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)shoff + 64 + 24), 0x7fff_ffff);
        string bad = Path.Combine(dir, "bad.o");
        File.WriteAllBytes(bad, bytes);
        AssertOneLineError(TestSupport.RunOrcsharp("run", bad), "bad.o", "section");
    }

    [Fact]
    public void WrongMachine()
    {
        string dir = TestSupport.NewTempDir();
        var bytes = File.ReadAllBytes(TestSupport.CompileC(dir, "t", Hello));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(18), 183); // EM_AARCH64
        string bad = Path.Combine(dir, "arm.o");
        File.WriteAllBytes(bad, bytes);
        AssertOneLineError(TestSupport.RunOrcsharp("run", bad), "arm.o", "AArch64");
    }

    [Fact]
    public void UnknownRelocationType()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "t", Hello);
        var bytes = File.ReadAllBytes(obj);
        // Find .rela.text and give its first relocation type 250.
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(0x28));
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(0x3c));
        bool patched = false;
        for (int i = 0; i < shnum && !patched; i++)
        {
            var sh = bytes.AsSpan((int)shoff + i * 64);
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != 4) continue; // SHT_RELA
            int target = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[44..]);
            var tsh = bytes.AsSpan((int)shoff + target * 64);
            if ((BinaryPrimitives.ReadUInt64LittleEndian(tsh[8..]) & 2) == 0) continue; // must be SHF_ALLOC
            ulong off = BinaryPrimitives.ReadUInt64LittleEndian(sh[24..]);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)off + 8), 250);
            patched = true;
        }
        Assert.True(patched);
        string bad = Path.Combine(dir, "reloc.o");
        File.WriteAllBytes(bad, bytes);
        AssertOneLineError(TestSupport.RunOrcsharp("run", bad), "reloc.o", "unsupported relocation type", "250", "section .text");
    }

    [Fact]
    public void UndefinedSymbol()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "u", "int no_such_function_anywhere(void);\nint main(void) { return no_such_function_anywhere(); }\n");
        AssertOneLineError(TestSupport.RunOrcsharp("run", obj), "undefined symbol", "no_such_function_anywhere", "u.o");
    }

    [Fact]
    public void DuplicateStrongDefinitionsNameBothInputs()
    {
        string dir = TestSupport.NewTempDir();
        string a = TestSupport.CompileC(dir, "a", "int twice = 1;\nint main(void) { return twice; }\n");
        string b = TestSupport.CompileC(dir, "b", "int twice = 2;\n");
        AssertOneLineError(TestSupport.RunOrcsharp("run", a, b), "duplicate symbol", "twice", "a.o", "b.o");
    }

    [Fact]
    public void MissingLibrary()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "t", Hello);
        AssertOneLineError(TestSupport.RunOrcsharp("run", "-l", "no_such_library_xyz", obj), "cannot find -lno_such_library_xyz");
    }

    [Fact]
    public void ArchiveMemberThatIsNotAnObject()
    {
        string dir = TestSupport.NewTempDir();
        string main = TestSupport.CompileC(dir, "main", "int helper(void);\nint main(void) { return helper(); }\n");
        string helper = TestSupport.CompileC(dir, "helper", "int helper(void) { return 0; }\n");
        string lib = Path.Combine(dir, "lib.a");
        Assert.Equal(0, TestSupport.Run("ar", "rcs", lib, helper).ExitCode);
        // Overwrite the member's bytes (after its 60-byte header) with text, keeping the index.
        var bytes = File.ReadAllBytes(lib);
        int at = bytes.AsSpan().IndexOf("\u007fELF"u8);
        "this is not an object file"u8.CopyTo(bytes.AsSpan(at));
        File.WriteAllBytes(lib, bytes);
        AssertOneLineError(TestSupport.RunOrcsharp("run", main, lib), "lib.a(helper.o)", "not an ELF");
    }

    [Fact]
    public void NotAnObjectAtAll()
    {
        string dir = TestSupport.NewTempDir();
        string txt = Path.Combine(dir, "notes.o");
        File.WriteAllText(txt, "hello");
        AssertOneLineError(TestSupport.RunOrcsharp("run", txt), "notes.o");
    }

    [Fact]
    public void MissingInputAndUnknownOption()
    {
        // The system's own wording (strerror), not a resource key (IO_FileNotFound...), reaches the user.
        AssertOneLineError(TestSupport.RunOrcsharp("run", "/nonexistent/x.o"), "/nonexistent/x.o", "cannot read: No such file or directory");
        AssertOneLineError(TestSupport.RunOrcsharp("run", "--bogus", "x.o"), "--bogus");
        AssertOneLineError(TestSupport.RunOrcsharp("run"), "no input");
    }

    [Fact]
    public void NoExecLinksButDoesNotRun()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "t", Hello);
        var r = TestSupport.RunOrcsharp("run", "--noexec", obj);
        Assert.Equal(0, r.ExitCode);
        Assert.Empty(r.Stdout);
        var ran = TestSupport.RunOrcsharp("run", obj);
        Assert.Equal("RAN\n", System.Text.Encoding.UTF8.GetString(ran.Stdout));
    }

    static string Assemble(string dir, string name, string text)
    {
        string src = Path.Combine(dir, name + ".s"), obj = Path.Combine(dir, name + ".o");
        File.WriteAllText(src, text + "\n\t.section .note.GNU-stack,\"\",@progbits\n");
        var r = OrcSharp.Conformance.ProcessRunner.Run("cc", ["-c", src, "-o", obj], dir);
        Assert.True(r.ExitCode == 0, r.StderrText);
        return obj;
    }

    [Fact]
    public void TlsRelocationAgainstOrdinarySymbol()
    {
        string dir = TestSupport.NewTempDir();
        // The assembler marks x thread-local here; the definition that wins is ordinary data.
        string use = Assemble(dir, "use", "\t.text\n\t.globl main\nmain: movl %fs:x@tpoff, %eax\n\tret");
        string def = TestSupport.CompileC(dir, "def", "int x = 5;\n");
        AssertOneLineError(TestSupport.RunOrcsharp("run", use, def), "use.o", "R_X86_64_TPOFF32", "'x'", "not thread-local");
    }

    [Fact]
    public void OrdinaryRelocationAgainstThreadLocalSymbol()
    {
        string dir = TestSupport.NewTempDir();
        string obj = Assemble(dir, "bad", "\t.section .tbss,\"awT\",@nobits\ny: .zero 4\n\t.text\n\t.globl main\nmain: movl y(%rip), %eax\n\tret");
        AssertOneLineError(TestSupport.RunOrcsharp("run", obj), "bad.o", "R_X86_64_PC32", "'y'", "thread-local");
    }

    [Theory]
    [InlineData("-O2")]
    [InlineData("-O2 -fPIC")]
    [InlineData("-O2 -fPIC -mtls-dialect=gnu2")]
    public void ThreadLocalDefinedNowhere(string flags)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "t", "#include <stdio.h>\nextern _Thread_local int elsewhere;\nint main(void) { puts(\"RAN\"); return elsewhere; }\n", flags);
        // Neither JIT'd code nor a loaded library (libc has thread-locals of its own) defines it.
        foreach (var mode in new[] { "--noexec", "--oop" })
            AssertOneLineError(TestSupport.RunOrcsharp("run", mode, obj), "t.o", "thread-local symbol 'elsewhere'", "not defined by JIT'd code or by any loaded shared library");
        AssertOneLineError(TestSupport.RunOrcsharp("run", obj), "t.o", "thread-local symbol 'elsewhere'");
    }

    [Fact]
    public void OverAlignedThreadLocalsAreRefused()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "t", "_Thread_local char page[4096] __attribute__((aligned(4096)));\nint main(void) { return page[1]; }\n", "-O2");
        AssertOneLineError(TestSupport.RunOrcsharp("run", obj), "aligned to 4096");
    }
}
