using System.Diagnostics;
using System.Globalization;
using System.IO.MemoryMappedFiles;
using OrcSharp.JitLink;

namespace OrcSharp.Fuzz;

/// <summary>
/// The fuzz harness (docs/reliability.md). A supervisor runs the inputs of a campaign in a worker process
/// and watches it: a worker that dies (a crash) or spends more than <see cref="HangLimit"/> of CPU time
/// on one input (a hang; or <see cref="WallHangLimit"/> blocked) is recorded against that input and replaced by a fresh worker that carries on after it. The
/// worker reports internal errors (any exception but LinkError) and inputs that allocate far more than
/// their size. Every failing input is saved with its recipe, to become a regression test.
///
///   fuzz [objects|messages|all] [--seconds N] [--inputs N] [--campaign S] [--start N] [--out DIR]
///        [--in-process] [--quiet]
///   fuzz replay FILE...     (.o and .a: object target; .msg: message target)
///   fuzz save TARGET CAMPAIGN INDEX FILE     (writes that input, e.g. to keep a failure as a regression)
///
/// Ends with one line "fuzz: N passed, N failed" (passed: inputs that were linked or cleanly refused); with
/// --quiet that line, with each target's counts after it, is all it prints unless an input fails.
/// </summary>
public static class Program
{
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10), WallHangLimit = TimeSpan.FromMinutes(5);

    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "worker") return Worker.Run(args[1..]);
        if (args.Length > 0 && args[0] == "replay") return Replay(args[1..]);
        if (args.Length == 5 && args[0] == "save")
        {
            // save TARGET CAMPAIGN INDEX FILE: writes one input of a campaign (to turn a failure into a regression file).
            var (seed, bytes, recipe, _) = Generator.For(args[1]).Make(ulong.Parse(args[2], CultureInfo.InvariantCulture), long.Parse(args[3], CultureInfo.InvariantCulture));
            File.WriteAllBytes(args[4], bytes);
            Console.WriteLine($"seed {seed}: {recipe}");
            return 0;
        }
        var o = Options.Parse(args);
        var targets = o.Target == "all" ? new[] { "objects", "messages" } : new[] { o.Target };
        long passed = 0, failed = 0;
        var overall = Stopwatch.StartNew();
        var summaries = new List<string>();
        foreach (var t in targets)
        {
            // With a time budget for "all", objects get two thirds of it.
            double? seconds = o.Seconds is { } s ? (targets.Length == 1 ? s : t == "objects" ? s * 2 / 3 : s - overall.Elapsed.TotalSeconds) : null;
            var r = Supervisor.Run(t, o, seconds);
            if (!o.Quiet) Console.WriteLine(r.Summary);
            summaries.Add(r.Summary);
            passed += r.Passed;
            failed += r.Failed;
        }
        // Quiet (CI): one line, the count first so a log summary can add it up, then what was run.
        Console.WriteLine(o.Quiet ? $"fuzz: {passed} passed, {failed} failed ({string.Join("; ", summaries)})" : $"fuzz: {passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    static int Replay(string[] files)
    {
        ParallelLink.Sequential = true;
        var (_, driver) = SeedCorpus.Build();
        var objects = new ObjectTarget(driver);
        int bad = 0;
        foreach (var f in files)
        {
            var bytes = File.ReadAllBytes(f);
            var (outcome, error) = f.EndsWith(".msg") ? MessageTarget.Run(bytes) : objects.Run(bytes, f.EndsWith(".a"));
            Console.WriteLine($"{f}: {outcome}{(error is null ? "" : ": " + error.GetType().Name + ": " + error.Message)}");
            if (outcome == Outcome.InternalError) { bad++; Console.WriteLine(error); }
        }
        return bad == 0 ? 0 : 1;
    }
}

public sealed record Options(string Target, double? Seconds, long? Inputs, ulong Campaign, long Start, string OutDir, bool InProcess, bool Quiet)
{
    public static Options Parse(string[] args)
    {
        string target = "all";
        double? seconds = null;
        long? inputs = null;
        ulong campaign = 1;
        long start = 0;
        string outDir = Path.Combine(Path.GetTempPath(), "orcsharp-fuzz-failures");
        bool inProcess = false, quiet = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "objects" or "messages" or "all": target = args[i]; break;
                case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--inputs": inputs = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--campaign": campaign = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--start": start = long.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--out": outDir = Next(); break;
                case "--in-process": inProcess = true; break;
                case "--quiet": quiet = true; break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        if (seconds is null && inputs is null) seconds = 60;
        return new Options(target, seconds, inputs, campaign, start, outDir, inProcess, quiet);
    }
}

/// <summary>Runs one target's inputs in worker processes; records crashes and hangs against the input.</summary>
public static partial class Supervisor
{
    public static (long Passed, long Failed, string Summary) Run(string target, Options o, double? seconds)
    {
        Directory.CreateDirectory(o.OutDir);
        long seedFailures = CheckSeeds(target);
        var clock = Stopwatch.StartNew();
        DateTime? deadline = seconds is { } s ? DateTime.UtcNow.AddSeconds(Math.Max(1, s)) : null;
        long end = o.Inputs is { } n ? o.Start + n : long.MaxValue;
        long next = o.Start, tested = 0, refused = 0, internalErrors = 0, crashes = 0, hangs = 0;
        // A worker that hangs or dies is replaced by one that starts after the input that did it.
        string progress = Path.Combine(Path.GetTempPath(), $"orcsharp-fuzz-{Environment.ProcessId}-{target}.progress");
        while (next < end && (deadline is null || DateTime.UtcNow < deadline))
        {
            var w = Worker.Start(target, o, next, end, deadline, progress);
            var (index, sinceChange, cpuAtChange) = (-1L, Stopwatch.StartNew(), TimeSpan.Zero);
            while (!w.Process.WaitForExit(200))
            {
                long now = w.CurrentIndex();
                // A hang is CPU time spent on one input (a busy machine or nice 19 only slows the clock),
                // or a wall-clock eternity for a worker that blocks without using any.
                TimeSpan cpu;
                try { w.Process.Refresh(); cpu = w.Process.TotalProcessorTime; } catch (InvalidOperationException) { continue; }
                if (now != index) { index = now; sinceChange.Restart(); cpuAtChange = cpu; }
                else if (index >= 0 && (cpu - cpuAtChange > Program.HangLimit || sinceChange.Elapsed > Program.WallHangLimit))
                {
                    w.Kill();
                    hangs++;
                    Worker.SaveFailure(target, o, index, $"hang: more than {Program.HangLimit.TotalSeconds} s of CPU time on one input");
                    break;
                }
            }
            w.Process.WaitForExit();
            var (finished, deadlineReached, nextIndex) = w.Summary();
            long last = w.CurrentIndex();
            refused += w.RefusedSoFar();
            w.Progress.Dispose();
            internalErrors += w.InternalErrors();
            if (finished)
            {
                tested += nextIndex - w.FirstIndex;
                next = nextIndex;
                if (next >= end || deadlineReached) break;
                continue;
            }
            tested += last + 1 - w.FirstIndex;
            next = last + 1;
            if (w.Killed) continue;
            // The worker died inside input `last`: a crash of the linker (or the decoder) itself.
            crashes++;
            Worker.SaveFailure(target, o, last, $"crash: worker exited with status {w.Process.ExitCode}");
        }
        long failures = internalErrors + crashes + hangs + seedFailures;
        File.Delete(progress);
        return (tested - failures, failures,
            $"{target}: {tested} inputs in {clock.Elapsed.TotalSeconds:0} s (campaign {o.Campaign}, inputs {o.Start}..{next - 1}): " +
            $"{tested - refused - failures} linked, {refused} refused with one error, {internalErrors} internal errors, {crashes} crashes, {hangs} hangs");
    }
}

public static partial class Supervisor
{
    /// <summary>Every unmutated seed must link (objects) or decode (messages): a seed refused is a valid
    /// input rejected, a bug as much as a crash. Also builds the seeds once, before the clock starts.</summary>
    static long CheckSeeds(string target)
    {
        long failures = 0;
        if (target == "messages")
        {
            foreach (var (m, i) in MessageTarget.Seeds().Select((m, i) => (m, i)))
                if (MessageTarget.Run(m) is var (outcome, error) && outcome != Outcome.Linked) { failures++; Console.WriteLine($"FAIL seed message {i}: {error}"); }
            return failures;
        }
        var (seeds, driver) = SeedCorpus.Build();
        var objects = new ObjectTarget(driver);
        foreach (var seed in seeds)
            if (objects.Run(seed.Bytes, seed.IsArchive) is var (outcome, error) && outcome != Outcome.Linked)
            {
                failures++;
                Console.WriteLine($"FAIL seed {seed.Name} does not link: {error?.Message}");
            }
        return failures;
    }
}

/// <summary>One worker process: runs inputs in order, publishing the current input's index.</summary>
public sealed class Worker
{
    public required Process Process { get; init; }
    public required MemoryMappedViewAccessor Progress { get; init; }
    public bool Killed { get; private set; }
    readonly List<string> _lines = new();

    /// <summary>The input running now; -1 before the first, <see cref="Finished"/> after the last.</summary>
    public long CurrentIndex() => Progress.ReadInt64(0);
    public const long Finished = -2;

    public void Kill()
    {
        Killed = true;
        try { Process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    }

    public required long FirstIndex { get; init; }

    /// <summary>Inputs refused with a LinkError so far (the worker keeps the count in its progress slot).</summary>
    public long RefusedSoFar() => Progress.ReadInt64(8);

    public long InternalErrors() { lock (_lines) return _lines.Count(l => l.StartsWith("FAIL ")); }

    /// <summary>Whether the worker ran to its end or deadline, and the first input it did not run.</summary>
    public (bool Finished, bool DeadlineReached, long NextIndex) Summary()
    {
        lock (_lines)
        {
            var done = _lines.LastOrDefault(l => l.StartsWith("DONE "));
            if (done is null) return (false, false, 0);
            var p = done.Split(' ');
            return (true, p[1] == "deadline", long.Parse(p[2], CultureInfo.InvariantCulture));
        }
    }

    public static Worker Start(string target, Options o, long start, long end, DateTime? deadline, string progressFile)
    {
        if (!File.Exists(progressFile)) using (var f = File.Create(progressFile)) f.SetLength(16);
        var mmf = MemoryMappedFile.CreateFromFile(progressFile, FileMode.Open, null, 16, MemoryMappedFileAccess.ReadWrite);
        var view = mmf.CreateViewAccessor(0, 16);
        mmf.Dispose(); // the view keeps the mapping
        view.Write(0, -1L);
        view.Write(8, 0L);
        string self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Program).Assembly.Location);
        foreach (var a in new[] { "worker", target, o.Campaign.ToString(CultureInfo.InvariantCulture), start.ToString(CultureInfo.InvariantCulture),
                     end.ToString(CultureInfo.InvariantCulture), deadline is { } d ? d.Ticks.ToString(CultureInfo.InvariantCulture) : "0",
                     progressFile, o.OutDir, o.InProcess ? "in-process" : "fake", o.Quiet ? "quiet" : "verbose" })
            psi.ArgumentList.Add(a);
        var w = new Worker { Process = Process.Start(psi)!, Progress = view, FirstIndex = start };
        w.Process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (w._lines) w._lines.Add(e.Data);
            if (e.Data.StartsWith("FAIL ") || !o.Quiet && !e.Data.StartsWith("DONE ")) Console.WriteLine(e.Data);
        };
        w.Process.BeginOutputReadLine();
        return w;
    }

    /// <summary>Regenerates input <paramref name="index"/> and saves it with what went wrong.</summary>
    public static void SaveFailure(string target, Options o, long index, string what)
    {
        var gen = Generator.For(target);
        var (seed, bytes, recipe, ext) = gen.Make(o.Campaign, index);
        string name = Path.Combine(o.OutDir, $"{target}-c{o.Campaign}-{index}{ext}");
        File.WriteAllBytes(name, bytes);
        File.WriteAllText(name + ".txt", $"{what}\ncampaign {o.Campaign}, input {index}, seed {seed}\n{recipe}\n");
        Console.WriteLine($"FAIL {index} {what} (saved {name})");
    }

    /// <summary>A refusal's message with names, numbers and offsets blanked, to count kinds of errors.</summary>
    static string Reason(string message)
    {
        var m = System.Text.RegularExpressions.Regex.Replace(message, "'[^']*'", "'…'");
        m = System.Text.RegularExpressions.Regex.Replace(m, "0x[0-9a-f]+|[0-9]+", "N");
        m = System.Text.RegularExpressions.Regex.Replace(m, @"section \S+", "section S");
        return m.Length > 150 ? m[..150] : m;
    }

    /// <summary>The worker's main loop (in the child process).</summary>
    public static int Run(string[] a)
    {
        string target = a[0];
        ulong campaign = ulong.Parse(a[1], CultureInfo.InvariantCulture);
        long start = long.Parse(a[2], CultureInfo.InvariantCulture), end = long.Parse(a[3], CultureInfo.InvariantCulture);
        long deadlineTicks = long.Parse(a[4], CultureInfo.InvariantCulture);
        string progressFile = a[5], outDir = a[6];
        bool inProcess = a[7] == "in-process", quiet = a[8] == "quiet";
        ParallelLink.Sequential = true; // one thread: allocations are counted, and a crash is this input's
        using var mmf = MemoryMappedFile.CreateFromFile(progressFile, FileMode.Open, null, 16, MemoryMappedFileAccess.ReadWrite);
        using var progress = mmf.CreateViewAccessor(0, 16);
        var gen = Generator.For(target);
        var objects = target == "objects" ? new ObjectTarget(SeedCorpus.Build().Driver, inProcess) : null;
        long tested = 0, refused = 0;
        var reasons = new Dictionary<string, int>();
        var status = Stopwatch.StartNew();
        long i = start;
        bool deadlineReached = false;
        for (; i < end; i++)
        {
            if (deadlineTicks != 0 && DateTime.UtcNow.Ticks >= deadlineTicks) { deadlineReached = true; break; }
            progress.Write(0, i);
            var (seed, bytes, recipe, ext) = gen.Make(campaign, i);
            var (outcome, error) = objects is not null ? objects.Run(bytes, ext == ".a") : MessageTarget.Run(bytes);
            tested++;
            if (outcome == Outcome.Refused)
            {
                progress.Write(8, ++refused);
                if (!quiet) reasons[Reason(error!.Message)] = reasons.GetValueOrDefault(Reason(error.Message)) + 1;
            }
            if (outcome == Outcome.InternalError)
            {
                string name = Path.Combine(outDir, $"{target}-c{campaign}-{i}{ext}");
                File.WriteAllBytes(name, bytes);
                File.WriteAllText(name + ".txt", $"{error}\ncampaign {campaign}, input {i}, seed {seed}\n{recipe}\n");
                Console.WriteLine($"FAIL {i} {error!.GetType().Name}: {error.Message.ReplaceLineEndings(" ")} (saved {name})");
            }
            if (!quiet && status.Elapsed.TotalSeconds >= 30)
            {
                Console.WriteLine($"  {target}: input {i}, {tested} tested in this worker");
                status.Restart();
            }
        }
        if (!quiet)
            foreach (var (reason, n) in reasons.OrderByDescending(r => r.Value).Take(40)) Console.WriteLine($"  refused {n,7}: {reason}");
        Console.WriteLine($"DONE {(deadlineReached ? "deadline" : "end")} {i}");
        Console.Out.Flush();
        progress.Write(0, Finished); // no input is running: a slow exit is not a hang
        return 0;
    }
}

/// <summary>Deterministic inputs of one target: seed corpus plus mutator.</summary>
public sealed class Generator
{
    readonly Mutator _mutator;
    readonly string[] _ext;

    Generator(Mutator m, string[] ext) { _mutator = m; _ext = ext; }

    public static Generator For(string target)
    {
        if (target == "messages")
        {
            var seeds = MessageTarget.Seeds();
            return new Generator(new Mutator(seeds, FieldMap.ForMessages), seeds.Select(_ => ".msg").ToArray());
        }
        var (objects, _) = SeedCorpus.Build();
        return new Generator(new Mutator(objects.Select(s => s.Bytes).ToList(), FieldMap.For), objects.Select(s => s.IsArchive ? ".a" : ".o").ToArray());
    }

    public (int Seed, byte[] Bytes, string Recipe, string Ext) Make(ulong campaign, long index)
    {
        var (seed, bytes, recipe) = _mutator.Make(campaign, index);
        return (seed, bytes, recipe, _ext[seed]);
    }
}
