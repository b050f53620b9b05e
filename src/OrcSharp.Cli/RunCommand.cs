using System.Diagnostics;
using System.Globalization;
using OrcSharp.Executor;
using OrcSharp.Executor.InProcess;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.JitLink;
using OrcSharp.Orc;
using OrcSharp.Shared;
using OrcSharp.Sources;

namespace OrcSharp.Cli;

/// <summary>orcsharp run: compile sources, link every input in memory, run main like a native program.</summary>
public static class RunCommand
{
    public static int Execute(RunOptions o)
    {
        var total = Stopwatch.StartNew();
        if (StaticTlsReexec.IsRestarted) ParallelLink.Sequential = true;
        // Another architecture runs in a cross executor, which is always a separate process.
        string? cross = o.Target is { } t && t != HostArchitecture.Name ? t : null;
        if (cross is not null) o.OutOfProcess = true;
        var objects = new List<string>(o.Inputs);
        // Sources by name, or any input given a language with -x (gcc's rule).
        var sources = Enumerable.Range(0, o.Inputs.Count).Where(i => o.InputLanguages[i] is not null || SourceCompiler.IsSource(o.Inputs[i])).ToList();
        bool cxx = sources.Any(i => o.InputLanguages[i] is { } lang ? lang == "c++" : SourceCompiler.IsCxx(o.Inputs[i]));
        double compileMs = 0;
        void CompileSources()
        {
            if (sources.Count > 0)
            {
                var compiled = SourceCompiler.CompileAll(sources.Select(i => o.Inputs[i]).ToList(),
                    CompilerSettings.FromEnvironment(cross is null ? null : CrossExecutor.ToolPrefix(cross)), CompileProgress.ForTerminal(),
                    sources.Select(i => o.InputLanguages[i]).ToList());
                CompileProgress.Clear();
                for (int k = 0; k < sources.Count; k++) objects[sources[k]] = compiled[k];
                sources.Clear();
            }
            compileMs = total.Elapsed.TotalMilliseconds;
        }

        ulong tlsReserve = 0;
        for (int attempt = 0; ; attempt++)
        {
            // A child executor writes its crash report into a pipe; the user sees it after the error line.
            using var reports = o.OutOfProcess && o.Connect is null && !o.NoBacktrace ? ProgramCrash.ReportPipe.Create() : null;
            var executor = CreateExecutor(o, cross, tlsReserve, reports);
            reports?.ChildStarted();
            try
            {
                // A child executor starts (under qemu: most of a cross run) while the sources compile.
                if (attempt == 0) CompileSources();
                return LinkAndRun(o, executor, cxx, objects, total, compileMs, reports);
            }
            catch (StaticTlsExhaustedError e) when (o.OutOfProcess && attempt == 0)
            {
                // A child executor can simply start over with a static TLS reserve that fits.
                tlsReserve = StaticTlsExhaustedError.RecommendedReserve(e.RequiredBytes);
            }
            catch (StaticTlsExhaustedError e) when (!o.OutOfProcess && o.Connect is null)
            {
                StaticTlsReexec.RestartWithReserve(e);
                if (InputFile.AnyStreamRead)
                    throw new LinkError($"{e.Message} (orcsharp restarts itself with that reserve, but input from a pipe cannot be read twice: use --oop or give the input as a file)");
                throw;
            }
            finally { executor.Dispose(); }
        }
    }

    static int LinkAndRun(RunOptions o, IExecutorControl executor, bool cxx, List<string> objects, Stopwatch total, double compileMs,
        ProgramCrash.ReportPipe? reports)
    {
        using var session = new ExecutionSession(executor);
        session.Platform.Debugging.PerfMap |= o.PerfMap;
        session.Platform.Debugging.JitDump |= o.JitDump;
        var recorder = new LinkSnapshot.Recorder();
        if (o.ShowGraph || o.ShowAddrs) session.Plugins.Add(recorder);
        var jd = session.CreateJITDylib("main");
        var loader = new InputLoader(jd, o.LibraryDirs);
        var sw = Stopwatch.StartNew();
        loader.AddFiles(objects);
        foreach (var lib in o.Libraries) loader.AddLibrary(lib);
        cxx |= jd.PendingObjectsLookLikeCxx();
        loader.AddDefaultLibraries(cxx);
        double loadMs = sw.Elapsed.TotalMilliseconds;

        var unit = jd.Link();
        var entry = jd.Lookup(o.Entry) ?? throw new LinkError($"entry point '{o.Entry}' is not defined");
        // In process, running never returns, so the figures come first; a remote run returns, and its
        // figures then include the run call (connect to exit).
        bool remote = executor is SimpleRemoteEPC or StartingExecutor;
        LauncherCheck.EnsureFresh(); // nothing is printed or run by a binary older than its sources
        // The program's stdout is its own: what the link looks like goes to stderr.
        foreach (var link in o.ShowGraph ? recorder.Snapshots : []) LinkPrinter.WriteGraph(Console.Error, link, session.Backend);
        if (o.ShowAddrs) LinkPrinter.WriteAddresses(Console.Error, recorder.Snapshots, []);
        if (o.Stats && (!remote || o.NoExec)) WriteStats(o, executor, unit, compileMs, loadMs, total.Elapsed.TotalMilliseconds);
        if (o.NoExec) return 0;

        // The link graph is garbage now. When it is large it is collected (and its memory given back) before
        // the program runs here, so that the program's own memory does not come on top of it.
        if (!remote && GC.GetTotalMemory(false) >= CollectBeforeRunAbove) GC.Collect(2, GCCollectionMode.Aggressive, true, true);
        var args = new List<string> { o.Inputs[0] };
        args.AddRange(o.ProgramArgs);
        Console.Out.Flush();
        Console.Error.Flush();
        // In process, a crash of the program is reported by the handler (on its own signal stack).
        if (!remote && !o.NoBacktrace) CrashReport.Install(2, "orcsharp: error: program terminated by signal ");
        using var crashStack = CrashReport.OnThisThread();
        int status;
        try { status = executor.RunProgram(new ProgramStart(unit.Initializers, unit.Finalizers, jd.DsoHandle, entry, args)); }
        catch (ProgramTerminatedError e)
        {
            // The program crashed (or was killed) in its executor: say so, show the executor's report, and
            // end by the same signal, as the native program would have.
            if (!o.NoBacktrace)
            {
                Console.Error.WriteLine($"orcsharp: error: {e.Message}");
                Console.Error.Write(reports?.ReadReport());
            }
            ProgramCrash.EndBy(e.Signal);
            return 128 + e.Signal;
        }
        if (o.Stats) WriteStats(o, executor, unit, compileMs, loadMs, total.Elapsed.TotalMilliseconds);
        return status;
    }

    const long CollectBeforeRunAbove = 8 << 20;

    static IExecutorControl CreateExecutor(RunOptions o, string? cross, ulong tlsReserve, ProgramCrash.ReportPipe? reports)
    {
        if (o.Connect is not null) return ConnectExecutor(o.Connect, o.TokenFile);
        if (!o.OutOfProcess) return new InProcessExecutorControl();
        if (o.OopExecutor is not null) return SimpleRemoteEPC.SpawnWithFileDescriptors(o.OopExecutor, RemoteOptions());
        var env = new Dictionary<string, string>();
        if (tlsReserve > 0) env["GLIBC_TUNABLES"] = StaticTlsExhaustedError.TunablesWithReserve(tlsReserve);
        string[] options = ["executor", "--stdio", "--program-stdout", "3", "--program-stdin", "4",
            .. o.NoBacktrace ? ["--no-backtrace"] : reports is not null ? ["--crash-report-fd", reports.WriteFd.ToString(CultureInfo.InvariantCulture)] : Array.Empty<string>()];
        if (cross is not null) return CrossExecutor.Spawn(cross, env, options);
        string self = Environment.ProcessPath ?? throw new LinkError("cannot find the orcsharp executable to start an executor");
        // Started now, connected while the inputs are read and parsed.
        return new StartingExecutor(HostArchitecture.Triple, self, options, env, RemoteOptions());
    }

    /// <summary>Connects to a listening executor (HOST:PORT or unix:PATH). Over TCP the token comes from
    /// <paramref name="tokenFile"/> or ORCSHARP_EXECUTOR_TOKEN.</summary>
    internal static SimpleRemoteEPC ConnectExecutor(string address, string? tokenFile)
    {
        var endpoint = ExecutorEndpoint.Parse(address);
        if (endpoint.IsUnix && tokenFile is not null) throw new LinkError("--token-file goes with TCP: a Unix socket is protected by its file mode");
        var token = endpoint.IsUnix ? null : tokenFile is not null ? ExecutorToken.ReadFile(tokenFile) : ExecutorToken.FromEnvironment();
        return SimpleRemoteEPC.Connect(endpoint, RemoteOptions() with { Token = token });
    }

    /// <summary>ORCSHARP_EXECUTOR_TIMEOUT (seconds) bounds the executor's setup and each service call.</summary>
    internal static RemoteExecutorOptions RemoteOptions()
    {
        const string variable = "ORCSHARP_EXECUTOR_TIMEOUT";
        if (Environment.GetEnvironmentVariable(variable) is not { Length: > 0 } text) return new RemoteExecutorOptions();
        if (!double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out double s) || s <= 0 || s > 86400)
            throw new LinkError($"{variable}='{text}' is not a number of seconds");
        return new RemoteExecutorOptions { SetupTimeout = TimeSpan.FromSeconds(s), ServiceTimeout = TimeSpan.FromSeconds(s) };
    }

    static void WriteStats(RunOptions o, IExecutorControl ex, LinkedUnit unit, double compileMs, double loadMs, double totalMs)
    {
        var s = unit.Stats;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string F(double v) => v.ToString("0.###", inv);
        Console.Error.WriteLine(
            $"{{\"compile_ms\":{F(compileMs)},\"load_inputs_ms\":{F(loadMs)},\"parse_ms\":{F(s.ParseMs)},\"archives_ms\":{F(s.ArchivesMs)},\"edges_ms\":{F(s.EdgesMs)},\"passes_ms\":{F(s.PassesMs)},\"layout_alloc_ms\":{F(s.LayoutAllocMs)}," +
            $"\"resolve_ms\":{F(s.ResolveMs)},\"fixup_ms\":{F(s.FixupMs)},\"finalize_ms\":{F(s.FinalizeMs)},\"total_ms\":{F(totalMs)}," +
            $"\"blocks\":{s.Blocks},\"edges\":{s.Edges},\"externals\":{s.Externals},\"bytes\":{s.Bytes}," +
            $"\"executor_round_trips\":{ex.Stats.RoundTrips},\"bytes_sent\":{ex.Stats.BytesSent},\"bytes_received\":{ex.Stats.BytesReceived}}}");
    }
}
