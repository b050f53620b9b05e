using OrcSharp.Fuzz;
using Xunit;

namespace OrcSharp.Tests.Fuzz;

/// <summary>
/// Every input the fuzz harness ever failed on (tests/OrcSharp.Fuzz/Regressions, each with a .txt saying
/// what went wrong and how it was made) goes through its target again: linked or refused with one
/// LinkError, never an internal error or a size-driven allocation.
/// </summary>
public class FuzzRegressionTests
{
    static string Dir => Path.Combine(TestSupport.RepoRoot, "tests", "OrcSharp.Fuzz", "Regressions");

    public static TheoryData<string> Inputs()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Dir).Where(f => !f.EndsWith(".txt") && !f.EndsWith(".md")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    static readonly Lazy<string> Driver = new(() => TestSupport.CompileC(TestSupport.NewTempDir(), "driver", SeedCorpus.DriverSource, "-O2"));

    [Theory]
    [MemberData(nameof(Inputs))]
    public void NoInternalError(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Dir, file));
        var (outcome, error) = file.EndsWith(".msg") ? MessageTarget.Run(bytes) : new ObjectTarget(Driver.Value).Run(bytes, file.EndsWith(".a"));
        Assert.True(outcome != Outcome.InternalError, $"{file}: {error}");
        Assert.True(File.Exists(Path.Combine(Dir, file + ".txt")), $"{file} has no .txt describing it");
    }

    [Fact]
    public void EveryRegressionIsRun() => Assert.True(Directory.EnumerateFiles(Dir, "*.txt").Count() >= 5);
}
