using OrcSharp.Conformance;

// Conformance runner: every case of a corpus, in its build matrix, natively linked vs orcsharp run.
string? corpus = null, orcsharp = null, filter = null, keep = null;
bool oop = false;
int jobs = Environment.ProcessorCount;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--corpus": corpus = Next(); break;
        case "--orcsharp": orcsharp = Next(); break;
        case "--filter": filter = Next(); break;
        case "--jobs": jobs = int.Parse(Next()); break;
        case "--keep": keep = Path.GetFullPath(Next()); break;
        case "--oop": oop = true; break;
        default: Console.Error.WriteLine($"conformance: unknown argument {args[i]}"); return 2;
    }
}
if (corpus is null || orcsharp is null)
{
    Console.Error.WriteLine("usage: conformance --corpus DIR --orcsharp PATH [--oop] [--filter TEXT] [--jobs N] [--keep DIR]");
    return 2;
}
orcsharp = Path.GetFullPath(orcsharp);
var runs = CorpusCase.Discover(Path.GetFullPath(corpus))
    .SelectMany(c => BuildMatrix.For(c).Select(m => (Case: c, Entry: m)))
    .Where(r => filter is null || $"{r.Case.Name} {r.Entry}".Contains(filter, StringComparison.Ordinal))
    .ToList();
var runner = new CaseRunner(orcsharp, oop, keep);
var results = new RunOutcome[runs.Count];
Parallel.For(0, runs.Count, new ParallelOptions { MaxDegreeOfParallelism = jobs }, i => results[i] = runner.Run(runs[i].Case, runs[i].Entry));
int passed = 0, failed = 0;
for (int i = 0; i < runs.Count; i++)
{
    var (c, m) = runs[i];
    if (results[i].Passed) { passed++; Console.WriteLine($"PASS {c.Name} {m}{(oop ? " --oop" : "")}"); }
    else { failed++; Console.WriteLine($"FAIL {c.Name} {m}{(oop ? " --oop" : "")}: {results[i].Detail}"); }
}
Console.WriteLine($"{passed} passed, {failed} failed");
return failed == 0 && runs.Count > 0 ? 0 : 1;
