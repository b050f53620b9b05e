using Xunit;

namespace OrcSharp.Tests.Cli;

/// <summary>
/// The stale-source check belongs to the ./orcsharp launcher of a checkout: started by it, the binary hands
/// over to the launcher when a source is newer than itself; started any other way (installed), it never
/// looks at a source tree. Checked on a copy of the built binary in a made-up checkout whose launcher only
/// says that it was called.
/// </summary>
public class LauncherCheckTests
{
    const string FakeLauncher = "#!/bin/sh\necho \"launcher called: REBUILD=$ORCSHARP_REBUILD args=$*\"\n";

    /// <summary>A checkout with the real binary in its cache and a source newer (or older) than it.</summary>
    static (string Binary, string Launcher) FakeCheckout(bool sourceNewer)
    {
        Assert.Equal(0, TestSupport.RunOrcsharp("--help").ExitCode); // builds the CLI if needed
        string root = TestSupport.NewTempDir();
        string cache = Path.Combine(root, ".cache", "orcsharp-cli");
        Directory.CreateDirectory(cache);
        string binary = Path.Combine(cache, "OrcSharp.Cli");
        File.Copy(Path.Combine(TestSupport.RepoRoot, ".cache", "orcsharp-cli", "OrcSharp.Cli"), binary);
        string launcher = Path.Combine(root, "orcsharp");
        File.WriteAllText(launcher, FakeLauncher);
        string source = Path.Combine(root, "src", "OrcSharp", "Edited.cs");
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        File.WriteAllText(source, "// edited\n");
        var now = DateTime.UtcNow;
        File.SetLastWriteTimeUtc(binary, sourceNewer ? now.AddHours(-1) : now.AddHours(1));
        return (binary, launcher);
    }

    static OrcSharp.Conformance.ProcessResult Run(string binary, Dictionary<string, string>? env, params string[] args) =>
        OrcSharp.Conformance.ProcessRunner.Run(binary, args, env: env);

    [Fact]
    public void InstalledBinaryNeverChecksSources()
    {
        var (binary, _) = FakeCheckout(sourceNewer: true);
        var r = Run(binary, null, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("usage: orcsharp run", r.StdoutText);
        Assert.DoesNotContain("launcher called", r.StdoutText);
    }

    [Fact]
    public void LaunchedBinaryHandsOverToTheLauncherWhenASourceIsNewer()
    {
        var (binary, launcher) = FakeCheckout(sourceNewer: true);
        var r = Run(binary, new() { ["ORCSHARP_LAUNCHER"] = launcher }, "run", "--noexec", "x.o");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("launcher called: REBUILD=1 args=run --noexec x.o\n", r.StdoutText);
        Assert.Empty(r.StderrText); // nothing of the stale binary's own work was done
    }

    [Fact]
    public void LaunchedBinaryRunsWhenItIsNewerThanEverySource()
    {
        var (binary, launcher) = FakeCheckout(sourceNewer: false);
        var r = Run(binary, new() { ["ORCSHARP_LAUNCHER"] = launcher }, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("usage: orcsharp run", r.StdoutText);
    }

    [Fact]
    public void JitProgramDoesNotSeeTheLauncherVariable()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "env", """
            #include <stdio.h>
            #include <stdlib.h>
            int main(void) { const char *v = getenv("ORCSHARP_LAUNCHER"); printf("%s\n", v ? v : "unset"); return 0; }
            """);
        foreach (var r in new[] { TestSupport.RunOrcsharp("run", obj), TestSupport.RunOrcsharp("run", "--oop", obj) })
        {
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("unset\n", r.StdoutText);
        }
    }
}
