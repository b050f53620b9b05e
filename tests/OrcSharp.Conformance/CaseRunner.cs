using System.Text;

namespace OrcSharp.Conformance;

/// <param name="Gap">Set for a failure that is a limit of LLVM's tools, not of OrcSharp: why.</param>
public sealed record RunOutcome(bool Passed, string Detail, string? Gap = null);

/// <summary>
/// How the JIT'd run is made besides natively: orcsharp run (in process, --oop, --target), orcsharp's
/// controller with LLVM's executor (run --oop-executor=<see cref="LlvmExecutor"/>), or LLVM's controller with
/// orcsharp's executor (<see cref="LlvmJitlink"/> -oop-executor=orcsharp). LLVM's controller passes the
/// program's arguments as its whole argv, so there argv[0] is given as the first argument.
/// </summary>
public sealed record LlvmPeer(string? LlvmExecutor = null, string? LlvmJitlink = null);

/// <summary>
/// Builds a case with one matrix entry, links it natively (the oracle) and runs it, runs the same
/// objects with orcsharp, and compares stdout, stderr and exit status byte for byte.
/// </summary>
public sealed class CaseRunner(string orcsharp, bool outOfProcess = false, string? keepDir = null, string? target = null, LlvmPeer? llvm = null)
{
    public RunOutcome Run(CorpusCase c, MatrixEntry m)
    {
        string work = Path.Combine(keepDir ?? Path.GetTempPath(), "orcsharp-conf-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(work);
        try { return RunIn(work, c, m); }
        finally { if (keepDir is null) try { Directory.Delete(work, true); } catch (IOException) { } }
    }

    RunOutcome RunIn(string work, CorpusCase c, MatrixEntry m)
    {
        var objects = new List<string>();
        foreach (var src in c.Sources)
        {
            string obj = Path.Combine(work, Path.GetFileNameWithoutExtension(src) + ".o");
            var args = m.Flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(c.ExtraCompileFlags).Concat(["-c", src, "-o", obj]);
            var r = ProcessRunner.Run(m.Compiler, args, work);
            if (r.ExitCode != 0) return new(false, $"compile {Path.GetFileName(src)} failed: {Trim(r.StderrText)}");
            objects.Add(obj);
        }
        var inputs = objects;
        if (c.IsArchive)
        {
            var members = objects.Where(o => Path.GetFileName(o) != "main.o").ToList();
            string lib = Path.Combine(work, "lib.a");
            var r = ProcessRunner.Run("ar", new[] { "rcs", lib }.Concat(members), work);
            if (r.ExitCode != 0) return new(false, $"ar failed: {Trim(r.StderrText)}");
            inputs = objects.Where(o => Path.GetFileName(o) == "main.o").Append(lib).ToList();
        }

        string prog = Path.Combine(work, "prog");
        string driver = (target is null ? "" : $"{target}-linux-gnu-") + (c.Language == Language.C ? "gcc" : "g++");
        var env = new Dictionary<string, string>();
        if (c.PluginSources.Count > 0)
        {
            if (BuildPlugin(work, c, m, driver) is { } error) return new(false, error);
            env[CorpusCase.PluginVariable] = Path.Combine(work, "plugin.so");
        }
        var linkArgs = new List<string>(inputs) { "-o", prog, "-pthread" };
        if (m.NoPie) linkArgs.Add("-no-pie");
        // A program whose plugin binds to its definitions exports them, as -rdynamic does.
        if (c.PluginSources.Count > 0) linkArgs.Add("-rdynamic");
        linkArgs.AddRange(c.Libraries.Select(l => "-l" + l));
        var link = ProcessRunner.Run(driver, linkArgs, work);
        if (link.ExitCode != 0) return new(false, $"native link failed: {Trim(link.StderrText)}");

        // The native program runs with argv[0] equal to the first input, as orcsharp run sets it; another
        // architecture's under qemu-user with the cross C library as its root.
        var native = target is null
            ? ProcessRunner.Run("bash", new[] { "-c", "exec -a \"$0\" \"$ORCSHARP_CONF_PROG\" \"$@\"", inputs[0] }.Concat(c.Arguments), work,
                20000, new(env) { ["ORCSHARP_CONF_PROG"] = prog })
            : ProcessRunner.Run($"qemu-{target}", new[] { "-L", $"/usr/{target}-linux-gnu", "-0", inputs[0], prog }.Concat(c.Arguments), work, 60000, env);
        if (llvm?.LlvmJitlink is { } jitlinkTool) return RunLlvmJitlink(jitlinkTool, llvm.LlvmExecutor, work, c, inputs, native, env);
        var jitArgs = new List<string> { "run" };
        // A case that dies of a signal natively is run without the crash report, so it must end exactly as
        // the native run (same signal, same stderr); every other case runs as users run it.
        if (native.ExitCode is > 128 and <= 128 + 64) jitArgs.Add("--no-backtrace");
        if (llvm?.LlvmExecutor is { } llvmExecutor) jitArgs.Add($"--oop-executor={llvmExecutor}");
        else if (outOfProcess) jitArgs.Add("--oop");
        if (target is not null) { jitArgs.Add("--target"); jitArgs.Add(target); }
        foreach (var l in c.Libraries) { jitArgs.Add("-l"); jitArgs.Add(l); }
        jitArgs.AddRange(inputs);
        jitArgs.Add("--");
        jitArgs.AddRange(c.Arguments);
        var jit = ProcessRunner.Run(orcsharp, jitArgs, work, env: env);
        var outcome = Compare(native, jit);
        // What LLVM's executor cannot do, orcsharp says in one line naming the missing service.
        const string missing = "LLVM's standard services only";
        if (!outcome.Passed && llvm?.LlvmExecutor is not null && jit.StderrText.Contains(missing, StringComparison.Ordinal))
            return outcome with { Gap = "LLVM's executor lacks a service: " + Trim(jit.StderrText) };
        return outcome;
    }

    /// <summary>llvm-jitlink driving orcsharp's executor. A failure is LLVM's limit when llvm-jitlink fails
    /// the same way with its own executor too (<paramref name="llvmExecutor"/>); then it is a known gap.</summary>
    RunOutcome RunLlvmJitlink(string jitlink, string? llvmExecutor, string work, CorpusCase c, List<string> inputs, ProcessResult native, Dictionary<string, string> env)
    {
        ProcessResult Jitlink(string executor)
        {
            var args = new List<string> { $"-oop-executor={executor}" };
            args.AddRange(c.Libraries.Select(l => "-l" + l));
            args.AddRange(inputs);
            args.Add("-args");
            args.Add(inputs[0]);
            args.AddRange(c.Arguments);
            return ProcessRunner.Run(jitlink, args, work, 30000, env);
        }
        var outcome = Compare(native, Jitlink(orcsharp));
        if (outcome.Passed || llvmExecutor is null) return outcome;
        var theirs = Compare(native, Jitlink(llvmExecutor));
        return theirs.Passed ? outcome : outcome with { Gap = "llvm-jitlink fails with its own executor too: " + theirs.Detail };
    }

    /// <summary>Builds the case's plugin/ sources into work/plugin.so: the row's compiler and flags made
    /// position-independent, linked -shared by the target's driver. Returns an error, or null.</summary>
    static string? BuildPlugin(string work, CorpusCase c, MatrixEntry m, string driver)
    {
        var flags = m.Flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(f => f != "-fno-pic").Append("-fPIC");
        var objects = new List<string>();
        foreach (var src in c.PluginSources)
        {
            string obj = Path.Combine(work, "plugin-" + Path.GetFileNameWithoutExtension(src) + ".o");
            var r = ProcessRunner.Run(m.Compiler, flags.Concat(c.ExtraCompileFlags).Concat(["-c", src, "-o", obj]), work);
            if (r.ExitCode != 0) return $"compile plugin/{Path.GetFileName(src)} failed: {Trim(r.StderrText)}";
            objects.Add(obj);
        }
        var link = ProcessRunner.Run(driver, objects.Concat(["-shared", "-o", Path.Combine(work, "plugin.so")]), work);
        return link.ExitCode == 0 ? null : $"plugin link failed: {Trim(link.StderrText)}";
    }

    /// <summary>Byte-for-byte comparison of a native run and an orcsharp run: exit status, stdout, stderr.</summary>
    public static RunOutcome Compare(ProcessResult native, ProcessResult jit)
    {
        if (native.TimedOut) return new(false, "native program timed out");
        if (jit.TimedOut) return new(false, "orcsharp timed out");
        var problems = new List<string>();
        if (native.ExitCode != jit.ExitCode) problems.Add($"exit status {jit.ExitCode}, native {native.ExitCode}");
        if (!native.Stdout.AsSpan().SequenceEqual(jit.Stdout)) problems.Add("stdout " + FirstDifference(native.Stdout, jit.Stdout));
        if (!native.Stderr.AsSpan().SequenceEqual(jit.Stderr)) problems.Add("stderr " + FirstDifference(native.Stderr, jit.Stderr));
        return problems.Count == 0 ? new(true, "") : new(false, string.Join("; ", problems));
    }

    static string FirstDifference(byte[] expected, byte[] actual)
    {
        var e = Encoding.UTF8.GetString(expected).Split('\n');
        var a = Encoding.UTF8.GetString(actual).Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string el = i < e.Length ? e[i] : "<end>", al = i < a.Length ? a[i] : "<end>";
            if (el != al) return $"line {i + 1}: expected \"{Trim(el)}\", got \"{Trim(al)}\"";
        }
        return "differs";
    }

    static string Trim(string s)
    {
        s = s.ReplaceLineEndings(" ").Trim();
        return s.Length > 300 ? s[..300] + "..." : s;
    }
}
