using Xunit;

namespace OrcSharp.Tests.Jitlink;

/// <summary>`orcsharp jitlink` as llvm-jitlink behaves: the entry point's result is the exit status, -args
/// is argv, bad options and combinations are one error line with status 1, unreferenced code is
/// dead-stripped (and kept by `run`), and the address and graph dumps go where they belong.</summary>
public class JitlinkCommandTests
{
    const string Program = """
        #include <stdio.h>
        static int unused_helper(int x) { return x * 3; }
        int (*keep)(int) = 0;
        static int used_helper(int x) { return x + 1; }
        int main(int argc, char **argv) {
            for (int i = 0; i < argc; i++) printf("[%s]", argv[i]);
            printf("\n");
            return used_helper(argc) + 40;
        }
        """;

    static string Compile() => TestSupport.CompileC(TestSupport.NewTempDir(), "prog", Program, "-O0 -fno-inline -ffunction-sections");

    [Fact]
    public void EntryResult_IsExitStatus_AndArgsAreArgv()
    {
        var r = TestSupport.RunOrcsharp("jitlink", Compile(), "-args", "one", "two");
        Assert.Equal(43, r.ExitCode); // argc = 2: argv is exactly the -args
        Assert.Equal("[one][two]\n", r.StdoutText);
    }

    [Fact]
    public void OutOfProcessExecutor_RunsTheSame()
    {
        var r = TestSupport.RunOrcsharp("jitlink", "-oop-executor", Compile(), "-args", "x");
        Assert.Equal(42, r.ExitCode);
        Assert.Equal("[x]\n", r.StdoutText);
    }

    [Fact]
    public void NoExec_LinksAndRunsNothing()
    {
        var r = TestSupport.RunOrcsharp("jitlink", "-noexec", Compile());
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.StdoutText);
        Assert.Equal("", r.StderrText);
    }

    [Theory]
    [InlineData("-no-such-option", "unknown option '-no-such-option'")]
    [InlineData("-slab-address=0x1000", "-slab-address requires -slab-allocate and -noexec")]
    [InlineData("-harness", "option -harness of llvm-jitlink is not supported")]
    [InlineData("-entry=nowhere", "entry point 'nowhere' is not defined")]
    public void BadOptions_AreOneErrorLine(string option, string message)
    {
        var r = TestSupport.RunOrcsharp("jitlink", "-noexec", option, Compile());
        Assert.Equal(1, r.ExitCode);
        var lines = r.StderrText.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("orcsharp: error: ", lines[0]);
        Assert.Contains(message, lines[0]);
    }

    [Fact]
    public void DeadStripping_DropsUnreferencedCode_RunKeepsIt()
    {
        string obj = Compile();
        var j = TestSupport.RunOrcsharp("jitlink", "-noexec", "-show-addrs", obj);
        Assert.Equal(0, j.ExitCode);
        Assert.Contains("\"used_helper\"", j.StdoutText);
        Assert.Contains("\"main\"", j.StdoutText);
        Assert.DoesNotContain("unused_helper", j.StdoutText);

        var r = TestSupport.RunOrcsharp("run", "--noexec", "--show-addrs", obj);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("\"unused_helper\"", r.StderrText);
    }

    [Fact]
    public void RunShowGraph_GoesToStderr_ProgramOwnsStdout()
    {
        string obj = Compile();
        var r = TestSupport.RunOrcsharp("run", "--show-graph", "--show-addrs", obj, "--", "a");
        Assert.Equal(43, r.ExitCode); // argv[0] is the input, as in run's native-program contract
        Assert.Equal($"[{obj}][a]\n", r.StdoutText);
        Assert.Contains("Link graph \"main\" after fixups:", r.StderrText);
        Assert.Matches(@"section \.text \(r-x\):\n  block 0x[0-9a-f]{16} -- 0x[0-9a-f]{16} size", r.StderrText);
        Assert.Matches(@"symbol 0x[0-9a-f]{16} \(\+0x[0-9a-f]+\) size 0x[0-9a-f]+, default, strong: main", r.StderrText);
        Assert.Matches(@"edge 0x[0-9a-f]{16} \(\+0x[0-9a-f]+\) BranchToStubBypassable -> printf", r.StderrText);
        Assert.Contains("Registered addresses:", r.StderrText);
    }

    [Fact]
    public void DeadStripping_CutsTheFramesOfStrippedCode_ExceptionsStillWork()
    {
        const string source = """
            #include <cstdio>
            #include <stdexcept>
            __attribute__((used)) static int unused_thrower(int x) { if (x) throw std::runtime_error("unused"); return x; }
            __attribute__((noinline)) static int used_thrower(int x) { if (x > 1) throw std::runtime_error("used"); return x; }
            int main(int argc, char **argv) {
                try { used_thrower(argc); } catch (const std::exception &e) { std::printf("caught %s\n", e.what()); return 7; }
                return 3;
            }
            """;
        string obj = TestSupport.CompileCxx(TestSupport.NewTempDir(), "eh", source, "-O1 -ffunction-sections");
        var r = TestSupport.RunOrcsharp("jitlink", obj, "-args", "a", "b");
        Assert.Equal(7, r.ExitCode);
        Assert.Equal("caught used\n", r.StdoutText);
        var addrs = TestSupport.RunOrcsharp("jitlink", "-noexec", "-show-addrs", obj).StdoutText;
        Assert.Contains("used_thrower", addrs);
        Assert.DoesNotContain("unused_thrower", addrs);
    }
}
