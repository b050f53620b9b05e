using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using OrcSharp.Conformance;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Debugging;

/// <summary>
/// GDB in batch mode on JIT'd code, through the GDB JIT interface: backtraces with names, files and
/// lines; a source breakpoint set before the code exists; stepping; in process and in a child executor
/// (followed across the fork), and AArch64 under qemu-user's gdb stub. gdb is pointed at the NativeAOT
/// executable (the ./orcsharp launcher is a shell script).
/// </summary>
public class GdbTests
{
    // Line numbers matter: the tests (these and LldbTests) name them.
    internal const string Crash = """
        #include <stdio.h>
        int *volatile target;
        __attribute__((noinline)) int square(int v) {
          return v * v;
        }
        __attribute__((noinline)) int crash_here(int x) {
          int y = square(x) + 1;
          return *target + y;
        }
        int main(int argc, char **argv) {
          printf("start\n");
          int r = crash_here(argc);
          return r;
        }
        """;

    static readonly string[] Quiet = ["-batch", "-nx", "-ex", "set debuginfod enabled off", "-ex", "set pagination off"];

    static ProcessResult Gdb(string gdb, IEnumerable<string> commands, params string[] program)
    {
        var args = new List<string>(Quiet);
        foreach (var c in commands) { args.Add("-ex"); args.Add(c); }
        if (program.Length > 0) { args.Add("--args"); args.AddRange(program); }
        return ProcessRunner.Run(gdb, args, timeoutMs: 180000);
    }

    internal static string CrashObject(string flags = "-O0 -g", string compiler = "cc")
    {
        string dir = TestSupport.NewTempDir();
        return compiler == "cc" ? TestSupport.CompileC(dir, "crash", Crash, flags) : TestSupport.CompileWith(compiler, dir, "crash", Crash, flags);
    }

    static void AssertBacktrace(string output)
    {
        Assert.Matches(@"#0 +(0x[0-9a-f]+ in )?crash_here \(x=1\) at \S*crash\.c:8", output);
        Assert.Matches(@"#1 +0x[0-9a-f]+ in main \(argc=1, argv=0x[0-9a-f]+\) at \S*crash\.c:12", output);
    }

    [Fact]
    public void InProcessBacktraceNamesFunctionsFilesAndLines()
    {
        var r = Gdb("gdb", ["run", "bt"], TestSupport.OrcsharpBinary, "run", CrashObject());
        Assert.Contains("received signal SIGSEGV", r.StdoutText);
        AssertBacktrace(r.StdoutText);
    }

    [Fact]
    public void ChildExecutorIsFollowedAndItsBacktraceNamed()
    {
        var r = Gdb("gdb", ["set follow-fork-mode child", "run", "bt"], TestSupport.OrcsharpBinary, "run", "--oop", CrashObject());
        Assert.Contains("received signal SIGSEGV", r.StdoutText);
        AssertBacktrace(r.StdoutText);
    }

    /// <summary>A breakpoint on a source line of code that does not exist yet stops there once the link
    /// is registered; then step into a call, finish it, step over a line and read a local.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PendingSourceBreakpointStopsAndSteps(bool outOfProcess)
    {
        string[] run = outOfProcess ? ["set follow-fork-mode child", "run"] : ["run"];
        var r = Gdb("gdb", ["set breakpoint pending on", "break crash.c:7", .. run, "step", "finish", "next", "print y", "kill"],
            [TestSupport.OrcsharpBinary, "run", .. outOfProcess ? ["--oop"] : Array.Empty<string>(), CrashObject()]);
        string o = r.StdoutText;
        Assert.Matches(@"Breakpoint 1, crash_here \(x=1\) at \S*crash\.c:7", o);
        Assert.Matches(@"square \(v=1\) at \S*crash\.c:4", o);      // step into square
        Assert.Contains("Value returned is $1 = 1", o);           // finish
        Assert.Matches(@"\n8\t  return \*target \+ y;", o);      // next: the following line
        Assert.Contains("$2 = 2", o);                             // y = square(1) + 1
    }

    /// <summary>Optimized code without DWARF: the debug object's symbols and .eh_frame still name and unwind
    /// every JIT'd frame.</summary>
    [Fact]
    public void OptimizedFramesWithoutDebugInfoAreNamedAndUnwound()
    {
        string obj = TestSupport.CompileC(TestSupport.NewTempDir(), "opt", """
            #include <stdio.h>
            int *volatile target;
            __attribute__((noinline)) int crash_here(int x) { return *target + x; }
            int main(int argc, char **argv) { int r = crash_here(argc); printf("%d\n", r); return 0; }
            """, "-O2 -fomit-frame-pointer");
        var r = Gdb("gdb", ["run", "bt"], TestSupport.OrcsharpBinary, "run", obj);
        Assert.Matches(@"#0 +0x[0-9a-f]+ in crash_here \(\)", r.StdoutText);
        Assert.Matches(@"#1 +0x[0-9a-f]+ in main \(\)", r.StdoutText);
    }

    /// <summary>gdb attached to a running executor finds one entry per link, and none once they are removed.</summary>
    [Fact]
    public void RemovedLinksLeaveNoEntryInTheExecutor()
    {
        string dir = TestSupport.NewTempDir();
        string pidFile = Path.Combine(dir, "pid");
        string a = TestSupport.CompileC(dir, "a", $$"""
            #include <stdio.h>
            #include <unistd.h>
            void write_pid(void) { FILE *f = fopen("{{pidFile}}", "w"); fprintf(f, "%d", (int)getpid()); fclose(f); }
            """, "-O2 -g -fPIC");
        string b = TestSupport.CompileC(dir, "b", "int plugin(int x) { return x + 1; }\n", "-O2 -g -fPIC");
        using var epc = SimpleRemoteEPC.Spawn(TestSupport.OrcsharpBinary, ["executor", "--stdio"]);
        using var session = new ExecutionSession(epc);
        var jd = TestSupport.LinkNew(session, "main", cxx: false, a);
        epc.RunInitializers([jd.Lookup("write_pid")!.Value]);
        string pid = File.ReadAllText(pidFile);
        jd.AddObject(b, File.ReadAllBytes(b));
        var unit = jd.Link();

        int Entries()
        {
            var r = Gdb("gdb", ["attach " + pid, "maint info jit", "detach"]);
            return Regex.Matches(r.StdoutText, @"^0x[0-9a-f]+ +0x[0-9a-f]+ +\d+", RegexOptions.Multiline).Count;
        }
        Assert.Equal(2, Entries());
        session.RemoveUnit(unit);
        Assert.Equal(1, Entries());
        session.RemoveJITDylib(jd);
        Assert.Equal(0, Entries());
    }

    /// <summary>AArch64: the executor runs under qemu-aarch64 with its gdb stub; gdb-multiarch connects,
    /// sets the pending breakpoint, and the controller links and runs over a Unix socket (private to this
    /// user: no token needed).</summary>
    [Fact]
    public void AArch64UnderQemuStopsAtASourceBreakpoint()
    {
        string obj = CrashObject("-O0 -g", "aarch64-linux-gnu-gcc");
        var build = TestSupport.RunOrcsharp("run", "--target", "aarch64", "--noexec", obj); // builds the arm64 executor once
        Assert.True(build.ExitCode == 0, build.StderrText);
        string executor = Path.Combine(TestSupport.RepoRoot, ".cache", "orcsharp-cli-linux-arm64", "OrcSharp.Cli");
        int port = FreePort();
        string socket = Path.Combine(Path.GetTempPath(), $"orcsharp-gdb-{Environment.ProcessId}-{port}.sock");
        var qemu = new ProcessStartInfo("qemu-aarch64") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-g", port.ToString(), "-L", "/usr/aarch64-linux-gnu", executor, "executor", "--listen", "unix:" + socket }) qemu.ArgumentList.Add(a);
        using var target = Process.Start(qemu)!;
        try
        {
            var gdb = Task.Run(() => Gdb("gdb-multiarch", ["file " + executor, "set sysroot /usr/aarch64-linux-gnu", $"target remote 127.0.0.1:{port}",
                "set breakpoint pending on", "break crash.c:7", "continue", "bt 2", "next", "print y", "kill"]));
            var line = target.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120)).GetAwaiter().GetResult();
            Assert.StartsWith("orcsharp executor: listening on ", line);
            var controller = Task.Run(() => TestSupport.RunOrcsharp("run", "--target", "aarch64", "--connect", "unix:" + socket, obj));
            var r = gdb.WaitAsync(TimeSpan.FromSeconds(180)).GetAwaiter().GetResult();
            controller.Wait(TimeSpan.FromSeconds(60));
            string o = r.StdoutText;
            Assert.Matches(@"Breakpoint 1, crash_here \(x=1\) at \S*crash\.c:7", o);
            Assert.Matches(@"#1 +0x[0-9a-f]+ in main \(argc=1, argv=0x[0-9a-f]+\) at \S*crash\.c:12", o);
            Assert.Matches(@"\n8\t  return \*target \+ y;", o);
            Assert.Contains("$1 = 2", o);
        }
        finally
        {
            if (!target.HasExited) target.Kill();
            File.Delete(socket);
        }
    }

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
