using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Cli;

/// <summary>
/// Inputs from pipes (issue 11, item 7): "-" and /dev/stdin, bash process substitutions, FIFOs, and
/// sources from standard input with a language given by -x, in process and out of process.
/// </summary>
public class PipeInputTests
{
    const string Source = "#include <stdio.h>\nint main(int argc, char **argv) { printf(\"hello from %s, %d args\\n\", argv[0], argc); return 7; }\n";

    static (string Dir, string Object, string Source) Inputs()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "hello", Source);
        return (dir, obj, Path.Combine(dir, "hello.c"));
    }

    /// <summary>Runs a bash command line with $ORCSHARP set (stdin redirections and process substitution are bash's).</summary>
    static ProcessResult Bash(string dir, string script) =>
        ProcessRunner.Run("bash", ["-c", script], dir, 120000, new() { ["ORCSHARP"] = TestSupport.Orcsharp });

    static void AssertRan(ProcessResult r, string argv0, int argc = 1)
    {
        Assert.True(r.ExitCode == 7, $"exit status {r.ExitCode}: {r.StderrText}");
        Assert.Equal($"hello from {argv0}, {argc} args\n", r.StdoutText);
        Assert.Equal("", r.StderrText);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ObjectFromStandardInput(bool oop)
    {
        var (dir, _, _) = Inputs();
        string flag = oop ? "--oop " : "";
        AssertRan(Bash(dir, $"\"$ORCSHARP\" run {flag}- < hello.o"), "-");
        AssertRan(Bash(dir, $"cat hello.o | \"$ORCSHARP\" run {flag}/dev/stdin -- x"), "/dev/stdin", 2);
    }

    [Fact]
    public void ProcessSubstitution()
    {
        var (dir, _, _) = Inputs();
        AssertRan(Bash(dir, "\"$ORCSHARP\" run <(cat hello.o)"), "/dev/fd/63");
        // clang's integrated assembler can write an object to a pipe (GNU as cannot).
        AssertRan(Bash(dir, "\"$ORCSHARP\" run <(clang-14 -c -o - hello.c)"), "/dev/fd/63");
    }

    [Fact]
    public void ArchiveFromAPipe()
    {
        var (dir, obj, _) = Inputs();
        Assert.Equal(0, TestSupport.Run("ar", "rcs", Path.Combine(dir, "libhello.a"), obj).ExitCode);
        TestSupport.CompileC(dir, "driver", "int main(int, char **);\nint (*volatile keep)(int, char **) = main;\n");
        AssertRan(Bash(dir, "cat libhello.a | \"$ORCSHARP\" run driver.o -"), "driver.o");
    }

    [Theory]
    [InlineData("-x c -", "c")]
    [InlineData("-xc /dev/stdin", "c")]
    [InlineData("-x c++ -", "c++")]
    public void SourceFromStandardInputWithItsLanguage(string args, string _)
    {
        var (dir, _, _) = Inputs();
        var r = Bash(dir, $"\"$ORCSHARP\" run {args} < hello.c");
        Assert.True(r.ExitCode == 7, r.StderrText);
        Assert.StartsWith("hello from ", r.StdoutText);
    }

    [Fact]
    public void SourceFromAPipeNeedsALanguage()
    {
        var (dir, _, _) = Inputs();
        var r = Bash(dir, "\"$ORCSHARP\" run - < hello.c");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("orcsharp: error: -: not an ELF object or archive; a source from a pipe needs its language (-x c or -x c++), and a linker script must be a file\n", r.StderrText);
        var bad = Bash(dir, "\"$ORCSHARP\" run -x fortran - < hello.c");
        Assert.Equal("orcsharp: error: unknown language 'fortran' for -x (expected c, c++ or none)\n", bad.StderrText);
    }

    [Fact]
    public void FifoWithAWriterThatComesLater()
    {
        var (dir, _, _) = Inputs();
        AssertRan(Bash(dir, "mkfifo f && { (sleep 1; cat hello.o > f) & \"$ORCSHARP\" run f; }"), "f");
    }

    [Fact]
    public void EmptyPipeIsAnError()
    {
        var (dir, _, _) = Inputs();
        var r = Bash(dir, "\"$ORCSHARP\" run - < /dev/null");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("orcsharp: error: -: cannot read: it is empty\n", r.StderrText);
    }
}
