using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Conformance;

/// <summary>Every case of tests/corpus in its full matrix: natively linked vs orcsharp run, byte for byte.</summary>
public class OwnCorpusTests
{
    static string Corpus => Path.Combine(TestSupport.RepoRoot, "tests", "corpus");

    /// <summary>Every run in both executor kinds: in process, and a child executor (--oop).</summary>
    public static IEnumerable<object[]> Runs() =>
        CorpusCase.Discover(Corpus).SelectMany(c => BuildMatrix.For(c)
            .SelectMany(m => new[] { "in-process", "oop" }.Select(kind => new object[] { c.Name, m.Compiler, m.Flags, kind })));

    [Theory]
    [MemberData(nameof(Runs))]
    public void MatchesNativeLink(string caseName, string compiler, string flags, string executor)
    {
        var c = CorpusCase.Discover(Corpus).Single(x => x.Name == caseName);
        var outcome = new CaseRunner(TestSupport.Orcsharp, outOfProcess: executor == "oop").Run(c, new MatrixEntry(compiler, flags));
        Assert.True(outcome.Passed, outcome.Detail);
    }

    /// <summary>The cases that build a plugin (the program as a loaded image: global scope, dl_iterate_phdr,
    /// dladdr) for AArch64 too: cross-compiled with gcc, run in the arm64 executor under qemu-user.</summary>
    public static IEnumerable<object[]> AArch64Runs() =>
        CorpusCase.Discover(Corpus).Where(c => c.PluginSources.Count > 0)
            .SelectMany(c => BuildMatrix.ForCross(c, "aarch64").Where(m => m.Compiler.StartsWith("aarch64", StringComparison.Ordinal))
                .Select(m => new object[] { c.Name, m.Flags }));

    [Theory]
    [MemberData(nameof(AArch64Runs))]
    public void MatchesNativeLinkOnAArch64(string caseName, string flags)
    {
        var c = CorpusCase.Discover(Corpus).Single(x => x.Name == caseName);
        var outcome = new CaseRunner(TestSupport.Orcsharp, target: "aarch64").Run(c, new MatrixEntry("aarch64-linux-gnu-gcc", flags));
        Assert.True(outcome.Passed, outcome.Detail);
    }

    [Fact]
    public void CorpusHasCasesInEveryMatrixEntry()
    {
        var cases = CorpusCase.Discover(Corpus);
        Assert.True(cases.Count >= 6);
        Assert.All(cases, c => Assert.Equal(c.Language == Language.Cxx ? 6 : c.UsesThreadLocals ? 20 : 10, BuildMatrix.For(c).Count));
        Assert.Contains(cases, c => c.UsesThreadLocals);
    }
}

/// <summary>Builds outside the README matrix: one section per function and per datum.</summary>
public class SectionPerSymbolTests
{
    [Theory]
    [InlineData("c/multi", "gcc")]
    [InlineData("c/func_ptrs", "clang-14")]
    [InlineData("c/archive", "gcc")]
    public void FunctionAndDataSectionsMatchNativeLink(string caseName, string compiler)
    {
        var c = CorpusCase.Discover(Path.Combine(TestSupport.RepoRoot, "tests", "corpus")).Single(x => x.Name == caseName);
        var outcome = new CaseRunner(TestSupport.Orcsharp).Run(c, new MatrixEntry(compiler, "-O2 -ffunction-sections -fdata-sections"));
        Assert.True(outcome.Passed, outcome.Detail);
    }
}
