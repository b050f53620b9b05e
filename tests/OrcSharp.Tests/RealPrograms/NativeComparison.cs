using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.RealPrograms;

/// <summary>Real programs built from Debian's packages: linked natively (the oracle) and run with
/// orcsharp, compared byte for byte. The packages are installed by .ci/run; a missing one fails the test
/// with the package to install, it is never skipped silently.</summary>
static class NativeComparison
{
    public static string ProgramSource(string relative) => Path.Combine(TestSupport.RepoRoot, "tests", "programs", relative);

    public static string Require(string path, string package) =>
        File.Exists(path) ? path : throw new Xunit.Sdk.XunitException($"{path} is missing: install the Debian package {package} (.ci/run installs it)");

    public static string Tool(string command, params string[] args)
    {
        var r = TestSupport.Run(command, args);
        if (r.ExitCode != 0) throw new Xunit.Sdk.XunitException($"{command} {string.Join(' ', args)} failed: {r.StderrText}");
        return r.StdoutText.Trim();
    }

    /// <summary>Runs the native program with argv[0] set to <paramref name="argv0"/>, as orcsharp run sets
    /// it to its first input; another architecture's under qemu-user with the cross C library as its root.</summary>
    public static ProcessResult RunNative(string program, string argv0, string workDir, string? target = null) =>
        target is null
            ? ProcessRunner.Run("bash", ["-c", "exec -a \"$0\" \"$ORCSHARP_NATIVE_PROGRAM\"", argv0], workDir, 120000,
                new() { ["ORCSHARP_NATIVE_PROGRAM"] = program })
            : ProcessRunner.Run($"qemu-{target}", ["-L", $"/usr/{target}-linux-gnu", "-0", argv0, program], workDir, 180000);

    public static ProcessResult RunOrcsharp(string workDir, bool outOfProcess, IEnumerable<string> inputs, string? target = null)
    {
        var args = new List<string> { "run" };
        if (outOfProcess) args.Add("--oop");
        if (target is not null) { args.Add("--target"); args.Add(target); }
        args.AddRange(inputs);
        return ProcessRunner.Run(TestSupport.Orcsharp, args, workDir, 180000);
    }

    public static void AssertSame(ProcessResult native, ProcessResult jit)
    {
        Assert.False(native.TimedOut, "the native program timed out");
        var outcome = CaseRunner.Compare(native, jit);
        Assert.True(outcome.Passed, $"{outcome.Detail}\norcsharp stderr: {jit.StderrText}");
    }
}
