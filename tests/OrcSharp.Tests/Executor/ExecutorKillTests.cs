using System.Diagnostics;
using System.Runtime.InteropServices;
using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>
/// The executor killed (SIGKILL) at each step of a link, during lookup, finalize, the run call and main
/// itself, never leaves the controller hanging or a process behind; nor does a killed controller leave its
/// executor. The executor's test hook stops it inside a given service so the test can kill it right there.
/// </summary>
public class ExecutorKillTests
{
    [DllImport("libc", SetLastError = true)] static extern int kill(int pid, int sig);
    const int SigKill = 9;

    static readonly string Hello = Path.Combine(TestSupport.RepoRoot, "examples", "hello.c");

    /// <summary>The pid in the hook's "paused in SERVICE (pid N)" line.</summary>
    public static int PausedPid(string line)
    {
        Assert.Contains("orcsharp executor: test hook: paused in ", line);
        int at = line.LastIndexOf("(pid ", StringComparison.Ordinal) + 5;
        return int.Parse(line[at..line.IndexOf(')', at)]);
    }

    /// <summary>Whether the process is gone (not even a zombie), waiting up to 10 s.</summary>
    public static bool IsGone(int pid)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (!File.Exists($"/proc/{pid}/stat")) return true;
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>Pids of the live children of a process.</summary>
    static List<int> ChildrenOf(int parent)
    {
        var kids = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1]) == parent && fields[0] != "Z") kids.Add(pid);
            }
            catch (IOException) { }
        }
        return kids;
    }

    sealed class Controller : IDisposable
    {
        public readonly Process P;
        readonly System.Collections.Concurrent.BlockingCollection<string> _err = new(), _out = new();

        public Controller(IReadOnlyDictionary<string, string> env, params string[] args)
        {
            var psi = new ProcessStartInfo(TestSupport.Orcsharp) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment.Remove(ExecutorToken.EnvironmentVariable);
            foreach (var (k, v) in env) psi.Environment[k] = v;
            P = Process.Start(psi)!;
            Pump(P.StandardError, _err);
            Pump(P.StandardOutput, _out);
        }

        static void Pump(StreamReader r, System.Collections.Concurrent.BlockingCollection<string> into) => Task.Run(async () =>
        {
            while (await r.ReadLineAsync() is { } l) into.Add(l);
            into.CompleteAdding();
        });

        public string NextErrorLine() => Next(_err);
        public string NextOutputLine() => Next(_out);

        static string Next(System.Collections.Concurrent.BlockingCollection<string> lines) =>
            lines.TryTake(out var l, TimeSpan.FromSeconds(60)) ? l : throw new Xunit.Sdk.XunitException("no line within 60 s");

        public List<string> RemainingErrorLines() => _err.GetConsumingEnumerable().ToList();

        /// <summary>Waits for the controller's end; it must come within 30 s.</summary>
        public int Exit()
        {
            Assert.True(P.WaitForExit(30000), "the controller hangs");
            P.WaitForExit();
            return P.ExitCode;
        }

        public void Dispose()
        {
            if (!P.HasExited) P.Kill(entireProcessTree: true);
            P.Dispose();
        }
    }

    /// <summary>"run --oop" of a program that says "running" and sleeps; once it runs, the executor's pid.</summary>
    static Controller StartSlowProgram(out int executorPid)
    {
        string obj = TestSupport.CompileC(TestSupport.NewTempDir(), "slow",
            "#include <stdio.h>\n#include <unistd.h>\nint main(void) { puts(\"running\"); fflush(stdout); sleep(60); return 0; }\n", "-O2");
        var c = new Controller(new Dictionary<string, string>(), "run", "--oop", obj);
        Assert.Equal("running", c.NextOutputLine());
        executorPid = Assert.Single(ChildrenOf(c.P.Id));
        return c;
    }

    [Theory]
    [InlineData(BootstrapNames.Lookup)]
    [InlineData(BootstrapNames.MemFinalize)]
    [InlineData(BootstrapNames.RunProgram)]
    public void KilledInAServiceOutOfProcess(string service)
    {
        using var c = new Controller(new Dictionary<string, string> { [SimpleRemoteExecutorServer.PauseEnvironmentVariable] = service },
            "run", "--oop", Hello, "--", "x");
        int pid = PausedPid(c.NextErrorLine());
        Assert.Contains(pid, ChildrenOf(c.P.Id));
        Assert.Equal(0, kill(pid, SigKill));
        // Once the program runs, the executor's death is the program's: the controller ends as the
        // program would have natively (128 + SIGKILL), after the same one error line.
        Assert.Equal(service == BootstrapNames.RunProgram ? 128 + SigKill : 1, c.Exit());
        Assert.Equal(["orcsharp: error: executor terminated by signal SIGKILL"], c.RemainingErrorLines());
        Assert.True(IsGone(pid));
    }

    [Fact]
    public void KilledWhileMainRunsOutOfProcess()
    {
        using var c = StartSlowProgram(out int pid);
        Assert.Equal(0, kill(pid, SigKill));
        Assert.Equal(128 + SigKill, c.Exit());
        Assert.Equal(["orcsharp: error: executor terminated by signal SIGKILL"], c.RemainingErrorLines());
        Assert.True(IsGone(pid));
    }

    /// <summary>The other way round: a controller killed mid-run takes its child executor (and the
    /// program) with it, since the executor ends when its pipe does.</summary>
    [Fact]
    public void AKilledControllerLeavesNoExecutorBehind()
    {
        using var c = StartSlowProgram(out int pid);
        Assert.Equal(0, kill(c.P.Id, SigKill));
        c.Exit();
        Assert.True(IsGone(pid), $"executor {pid} outlived its controller");
    }

    [Theory]
    [InlineData(BootstrapNames.Lookup)]
    [InlineData(BootstrapNames.MemFinalize)]
    [InlineData(BootstrapNames.RunProgram)]
    public void KilledInAServiceOverTcp(string service)
    {
        using var executor = ListeningExecutor.Start(new Dictionary<string, string> { [SimpleRemoteExecutorServer.PauseEnvironmentVariable] = service },
            "--listen", "127.0.0.1:0");
        using var c = new Controller(new Dictionary<string, string>(), "run", "--connect", executor.Address, "--token-file", executor.TokenFile!, Hello, "--", "x");
        int pid = PausedPid(executor.WaitForLog("test hook: paused in"));
        Assert.Equal(executor.Pid, pid);
        executor.Kill();
        Assert.Equal(1, c.Exit());
        Assert.Matches("^orcsharp: error: executor (closed the connection|connection failed: .+)$", Assert.Single(c.RemainingErrorLines()));
    }
}
