using OrcSharp.Conformance;

// Conformance runner: every case of a corpus, in its build matrix, natively linked vs orcsharp run.
string? corpus = null, orcsharp = null, filter = null, keep = null;
// Known gaps: runs whose name contains the key are expected to fail (for the stated reason) until the
// issue that closes the gap lands. They still run; an unexpected pass is a failure, so the list stays true.
var knownGaps = new List<(string Match, string Reason)>();
bool oop = false;
string? llvmExecutor = null, llvmJitlink = null;
string? target = null; // another architecture: cross-compiled, native runs under qemu-user, orcsharp run --target
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
        // orcsharp's controller with LLVM's executor: orcsharp run --oop-executor=PATH.
        case "--llvm-executor": llvmExecutor = Next(); break;
        // LLVM's controller with orcsharp's executor: PATH -oop-executor=ORCSHARP (failures checked
        // against --llvm-executor when given: what fails there too is LLVM's limit, a known gap).
        case "--llvm-jitlink": llvmJitlink = Next(); break;
        case "--target": target = Next(); break;
        case "--known-gap":
            var spec = Next();
            int eq = spec.IndexOf('=');
            knownGaps.Add(eq < 0 ? (spec, "known gap") : (spec[..eq], spec[(eq + 1)..]));
            break;
        default: Console.Error.WriteLine($"conformance: unknown argument {args[i]}"); return 2;
    }
}
if (corpus is null || orcsharp is null)
{
    Console.Error.WriteLine("usage: conformance --corpus DIR --orcsharp PATH [--oop | --target aarch64 | --llvm-executor PATH [--llvm-jitlink PATH]] [--filter TEXT] [--jobs N] [--keep DIR] [--known-gap TEXT=REASON]...");
    return 2;
}
orcsharp = Path.GetFullPath(orcsharp);
var runs = CorpusCase.Discover(Path.GetFullPath(corpus))
    .SelectMany(c => (target is null ? BuildMatrix.For(c) : BuildMatrix.ForCross(c, target)).Select(m => (Case: c, Entry: m)))
    .Where(r => filter is null || $"{r.Case.Name} {r.Entry}".Contains(filter, StringComparison.Ordinal))
    .ToList();
if ((llvmExecutor is not null || llvmJitlink is not null) && (oop || target is not null))
{
    Console.Error.WriteLine("conformance: --llvm-executor and --llvm-jitlink exclude --oop and --target");
    return 2;
}
var runner = new CaseRunner(orcsharp, oop, keep, target, llvmExecutor is null && llvmJitlink is null ? null : new LlvmPeer(llvmExecutor, llvmJitlink));
string mode = llvmJitlink is not null ? " (llvm-jitlink with orcsharp's executor)" : llvmExecutor is not null ? " (orcsharp with LLVM's executor)" : "";
var results = new RunOutcome[runs.Count];
Parallel.For(0, runs.Count, new ParallelOptions { MaxDegreeOfParallelism = jobs }, i => results[i] = runner.Run(runs[i].Case, runs[i].Entry));
int passed = 0, failed = 0, expected = 0;
for (int i = 0; i < runs.Count; i++)
{
    var (c, m) = runs[i];
    string name = $"{c.Name} {m}{(oop ? " --oop" : "")}{(target is null ? "" : " --target " + target)}{mode}";
    var gap = knownGaps.FirstOrDefault(g => name.Contains(g.Match, StringComparison.Ordinal));
    if (gap.Match is null && results[i].Gap is { } limit) gap = (name, limit);
    if (gap.Match is not null)
    {
        if (results[i].Passed) { failed++; Console.WriteLine($"FAIL {name}: passed, but is listed as a known gap ({gap.Reason}); remove it from the list"); }
        else { expected++; Console.WriteLine($"XFAIL {name}: known gap ({gap.Reason}): {results[i].Detail}"); }
    }
    else if (results[i].Passed) { passed++; Console.WriteLine($"PASS {name}"); }
    else { failed++; Console.WriteLine($"FAIL {name}: {results[i].Detail}"); }
}
if (expected > 0) Console.WriteLine($"{expected} runs are known gaps that failed as expected (counted as skipped, not passed)");
Console.WriteLine($"{passed} passed, {failed} failed" + (expected > 0 ? $", {expected} skipped" : ""));
return failed == 0 && passed > 0 ? 0 : 1;
