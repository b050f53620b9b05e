using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Jitlink;

/// <summary>
/// `orcsharp jitlink -noexec -check=FILE`: the assembly files of tests/jitlink (every x86-64 and AArch64
/// relocation type OrcSharp maps) must satisfy their checks, and a check that does not hold, cannot be
/// evaluated or is missing fails the command with status 1 and a message naming file, line and values.
/// </summary>
public class CheckLanguageTests
{
    public const string LlvmMc = "llvm-mc-19";
    static readonly string TestDir = Path.Combine(TestSupport.RepoRoot, "tests", "jitlink");

    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(TestDir, "*.s", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(TestDir, f));
        return data;
    }

    /// <summary>Assembles a test file (the triple comes from its folder) into dir/NAME.o.</summary>
    public static string Assemble(string source, string dir)
    {
        string triple = source.Contains("aarch64", StringComparison.Ordinal) ? "aarch64-unknown-linux-gnu" : "x86_64-unknown-linux-gnu";
        string obj = Path.Combine(dir, Path.GetFileNameWithoutExtension(source) + ".o");
        var r = TestSupport.Run(LlvmMc, $"-triple={triple}", "-filetype=obj", "-o", obj, source);
        Assert.True(r.ExitCode == 0, $"{LlvmMc} failed: {r.StderrText}");
        return obj;
    }

    static string[] ArgsOf(string source) =>
        File.ReadLines(source).FirstOrDefault(l => l.StartsWith("# ARGS:", StringComparison.Ordinal))?["# ARGS:".Length..]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];

    static ProcessResult Check(string source, string obj, params string[] extra) =>
        TestSupport.RunOrcsharp(["jitlink", "-noexec", .. ArgsOf(source), .. extra, $"-check={source}", obj]);

    [Theory]
    [MemberData(nameof(Files))]
    public void RelocationChecksHold(string file)
    {
        string source = Path.Combine(TestDir, file);
        var r = Check(source, Assemble(source, TestSupport.NewTempDir()));
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StderrText}");
        Assert.Equal("", r.StderrText);
    }

    /// <summary>A copy of x86_64/data_and_pcrel.s with extra lines appended, assembled.</summary>
    static (string Source, string Obj) WithExtraLines(params string[] lines)
    {
        string dir = TestSupport.NewTempDir();
        string source = Path.Combine(dir, "data_and_pcrel.s");
        File.WriteAllText(source, File.ReadAllText(Path.Combine(TestDir, "x86_64", "data_and_pcrel.s")) + string.Join("\n", lines) + "\n");
        return (source, Assemble(source, dir));
    }

    [Fact]
    public void WrongCheck_FailsWithBothValuesFileAndLine()
    {
        var (source, obj) = WithExtraLines("# jitlink-check: *{8}data_word = \\", "# jitlink-check:     0x1122334455667789");
        int line = File.ReadAllLines(source).Length - 1;
        var r = Check(source, obj);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{source}:{line}: check failed: 0x1122334455667788 != 0x1122334455667789: *{{8}}data_word = 0x1122334455667789", r.StderrText);
        Assert.Contains($"1 of ", r.StderrText);
    }

    [Fact]
    public void UnknownSymbolOrBadSyntax_FailsNamingTheProblem()
    {
        var (source, obj) = WithExtraLines("# jitlink-check: no_such_symbol = 1", "# jitlink-check: decode_operand(pc32 4) = 1");
        var r = Check(source, obj);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no known address for symbol 'no_such_symbol'", r.StderrText);
        Assert.Contains("expected ','", r.StderrText);
        Assert.Contains("2 of ", r.StderrText);
    }

    [Fact]
    public void FileWithoutChecks_Fails()
    {
        string dir = TestSupport.NewTempDir();
        string empty = Path.Combine(dir, "none.txt");
        File.WriteAllText(empty, "no checks here\n");
        string source = Path.Combine(TestDir, "x86_64", "data_and_pcrel.s");
        var r = TestSupport.RunOrcsharp(["jitlink", "-noexec", .. ArgsOf(source), $"-check={empty}", Assemble(source, dir)]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no '# jitlink-check:' lines", r.StderrText);
    }

    [Fact]
    public void CheckName_SelectsOtherLines()
    {
        var (source, obj) = WithExtraLines("# mine: *{8}data_word = 0x1122334455667788", "# mine: pc32 - main = 1");
        var r = Check(source, obj, "-check-name=mine");
        Assert.Equal(1, r.ExitCode); // the second check does not hold
        Assert.Contains("1 of 2 checks", r.StderrText);
    }

    [Fact]
    public void OutOfRangeAbsolute_IsOneErrorLine()
    {
        string source = Path.Combine(TestDir, "x86_64", "data_and_pcrel.s");
        string obj = Assemble(source, TestSupport.NewTempDir());
        var r = TestSupport.RunOrcsharp("jitlink", "-noexec", "-slab-allocate", "1Mb", "-slab-address", "0x40000000",
            "-slab-page-size", "4096", "-abs", "ext_low=0x123456", "-abs", "ext_small=0x7f", "-abs", "ext_32s=0x10", obj);
        Assert.Equal(1, r.ExitCode);
        var lines = r.StderrText.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.Contains("relocation target \"ext_low\" (value 0x123456) is out of range of Pointer16 fixup", lines[0]);
    }
}
