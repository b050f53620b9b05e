using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Debugging;

/// <summary>
/// LLDB (Debian lldb-19) in batch mode on JIT'd code: it reads the same GDB JIT interface (its JIT loader is
/// on by default on Linux). A backtrace with names, files and lines after a crash, and a source breakpoint
/// set before the code exists, then step, finish, next and a local; in process and in a child executor
/// (followed across the fork and the exec). The program is GdbTests.Crash.
/// </summary>
public class LldbTests
{
    /// <summary>Runs lldb: <paramref name="commands"/> in order, <paramref name="afterCrash"/> once the program
    /// has stopped on a signal (batch mode runs no more -o commands then).</summary>
    static ProcessResult Lldb(bool outOfProcess, string[] commands, string[] afterCrash)
    {
        string obj = GdbTests.CrashObject(); // GdbTests.Crash: its line numbers are the ones below
        var args = new List<string> { "-b", "-x" };
        // Out of process: follow the executor, and go on past its exec.
        string[] run = outOfProcess ? ["settings set target.process.follow-fork-mode child", "run", "continue"] : ["run"];
        foreach (var c in commands.SelectMany(c => c == "run" ? run : [c])) { args.Add("-o"); args.Add(c); }
        foreach (var c in afterCrash) { args.Add("-k"); args.Add(c); }
        args.AddRange(["--", TestSupport.OrcsharpBinary, "run", .. outOfProcess ? ["--oop"] : Array.Empty<string>(), obj]);
        return ProcessRunner.Run("lldb-19", args, timeoutMs: 180000);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BacktraceNamesFunctionsFilesAndLines(bool outOfProcess)
    {
        var r = Lldb(outOfProcess, ["run"], ["bt 2", "kill"]);
        string o = r.StdoutText;
        Assert.Contains("stop reason = signal SIGSEGV", o);
        Assert.Matches(@"frame #0: 0x[0-9a-f]+ JIT\(0x[0-9a-f]+\)`crash_here\(x=1\) at crash\.c:8", o);
        Assert.Matches(@"frame #1: 0x[0-9a-f]+ JIT\(0x[0-9a-f]+\)`main\(argc=1, argv=0x[0-9a-f]+\) at crash\.c:12", o);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SourceBreakpointStopsAndSteps(bool outOfProcess)
    {
        var r = Lldb(outOfProcess, ["breakpoint set --file crash.c --line 7", "run", "step", "finish", "next", "frame variable y", "kill"], []);
        string o = r.StdoutText;
        Assert.Matches(@"stop reason = breakpoint 1\.1\s+frame #0: 0x[0-9a-f]+ JIT\(0x[0-9a-f]+\)`crash_here\(x=1\) at crash\.c:7", o);
        Assert.Matches(@"stop reason = step in\s+frame #0: 0x[0-9a-f]+ JIT\(0x[0-9a-f]+\)`square\(v=1\) at crash\.c:4", o);
        Assert.Contains("Return value: (int) $0 = 1", o);                                        // finish
        Assert.Matches(@"stop reason = step over\s+frame #0: [^\n]+`crash_here\(x=1\) at crash\.c:8", o); // next
        Assert.Contains("(int) y = 2", o);                                                       // y = square(1) + 1
    }
}
