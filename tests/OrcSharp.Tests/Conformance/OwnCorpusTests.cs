using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Conformance;

/// <summary>Every case of tests/corpus in its full matrix: natively linked vs orcsharp run, byte for byte.</summary>
public class OwnCorpusTests
{
    static string Corpus => Path.Combine(TestSupport.RepoRoot, "tests", "corpus");

    public static IEnumerable<object[]> Runs() =>
        CorpusCase.Discover(Corpus).SelectMany(c => BuildMatrix.For(c).Select(m => new object[] { c.Name, m.Compiler, m.Flags }));

    [Theory]
    [MemberData(nameof(Runs))]
    public void MatchesNativeLink(string caseName, string compiler, string flags)
    {
        var c = CorpusCase.Discover(Corpus).Single(x => x.Name == caseName);
        var outcome = new CaseRunner(TestSupport.Orcsharp).Run(c, new MatrixEntry(compiler, flags));
        Assert.True(outcome.Passed, outcome.Detail);
    }

    [Fact]
    public void CorpusHasCasesInEveryMatrixEntry()
    {
        var cases = CorpusCase.Discover(Corpus);
        Assert.True(cases.Count >= 6);
        Assert.All(cases, c => Assert.Equal(8, BuildMatrix.For(c).Count));
    }
}
