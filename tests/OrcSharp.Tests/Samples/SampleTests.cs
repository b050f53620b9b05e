using Xunit;
using OrcSharp.Conformance;

namespace OrcSharp.Tests.Samples;

/// <summary>
/// The library's samples (samples/, each a console app on the public API alone) built once and run in
/// process and in a child executor (the orcsharp command); their whole output is compared with what the
/// C programs and the host code they contain print.
/// </summary>
[Collection(BuildsOfTheRepo.Name)]
public sealed class SampleTests : IClassFixture<SampleTests.Build>
{
    /// <summary>Builds samples/Samples.slnx once for the class.</summary>
    public sealed class Build
    {
        public Build()
        {
            var r = ProcessRunner.Run("dotnet", ["build", Path.Combine(TestSupport.RepoRoot, "samples", "Samples.slnx"), "-c", "Release", "--nologo", "-v", "q"],
                TestSupport.RepoRoot, timeoutMs: 20 * 60 * 1000);
            if (r.ExitCode != 0) throw new InvalidOperationException("building the samples failed: " + r.StdoutText + r.StderrText);
        }
    }

    readonly Build _build;
    public SampleTests(Build build) { _build = build; }

    static string Run(string sample, bool outOfProcess)
    {
        string dll = Path.Combine(TestSupport.RepoRoot, "samples", sample, "bin", "Release", "net10.0", sample + ".dll");
        string[] args = outOfProcess ? [dll, "--oop", TestSupport.OrcsharpBinary] : [dll];
        var r = ProcessRunner.Run("dotnet", args, timeoutMs: 180000);
        Assert.True(r.ExitCode == 0, $"{sample} exited with {r.ExitCode}: {r.StderrText}");
        Assert.Equal("", r.StderrText);
        return r.StdoutText;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GettingStarted(bool oop) => Assert.Equal(
        "add(2, 3) = 5\n" + (oop ? "" : "add(40, 2) = 42\nadd(1, 1) = 2\n") + "hello, world\nmain returned 7\n",
        Run("GettingStarted", oop));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void HostSymbols(bool oop) => Assert.Equal(oop ? "host symbols need an in-process executor\n" :
        "  C# Scale(1) called from JIT'd code\ncompute(1) = 11\n  C# Scale(2) called from JIT'd code\ncompute(2) = 21\n" +
        "  C# Scale(3) called from JIT'd code\ncompute(3) = 31\nhost_counter = 3\n",
        Run("HostSymbols", oop));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinkOrder(bool oop) => Assert.Equal(
        "square(12) = 144\napp's main returned 0\nduplicate 'square': square.c and square_again.c\n" +
        "undefined 'not_defined_anywhere', referenced by broken.c\n",
        Run("LinkOrder", oop));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void HotReload(bool oop) => Assert.Equal(
        "compute(0) = 1\ncompute(1) = 2\ncompute(2) = 3\n-- replaced plugin_v1 with plugin_v2\ncompute(3) = 300\ncompute(4) = 400\n" +
        "compute(5) = 500\ncompute stayed at one address: True\n",
        Run("HotReload", oop));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RunMain(bool oop) => Assert.Equal(
        "constructor\nrun 1 of prog with 1 argument(s)\nstatus 41\nrun 2 of prog with 2 argument(s)\nstatus 42\n" +
        "destructor\natexit handler\ndeinitialized\nconstructor\nrun 3 of prog with 0 argument(s)\nstatus 43\ndisposing\ndestructor\n" +
        "host still running\n",
        Run("RunMain", oop));
}

/// <summary>Tests that build projects of this repo (samples, packages) take turns: two builds of
/// src/OrcSharp at once would write the same obj/ folder.</summary>
[CollectionDefinition(Name)]
public sealed class BuildsOfTheRepo
{
    public const string Name = "builds of the repo";
}
