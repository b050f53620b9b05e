using System.Diagnostics;
using OrcSharp.Executor;
using OrcSharp.Executor.InProcess;
using OrcSharp.JitLink;
using OrcSharp.Orc;
using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>orcsharp run: compile sources, link every input in memory, run main like a native program.</summary>
public static class RunCommand
{
    public static int Execute(RunOptions o)
    {
        var total = Stopwatch.StartNew();
        if (StaticTlsReexec.IsRestarted) ParallelLink.Sequential = true;
        var objects = new List<string>();
        bool cxx = false;
        foreach (var input in o.Inputs)
        {
            if (SourceCompiler.IsSource(input))
            {
                cxx |= SourceCompiler.IsCxx(input);
                objects.Add(SourceCompiler.Compile(input));
            }
            else objects.Add(input);
        }
        double compileMs = total.Elapsed.TotalMilliseconds;

        using var executor = CreateExecutor(o);
        using var session = new ExecutionSession(executor);
        var jd = session.CreateJITDylib("main");
        var loader = new InputLoader(jd, o.LibraryDirs);
        var sw = Stopwatch.StartNew();
        foreach (var path in objects) loader.AddFile(path);
        foreach (var lib in o.Libraries) loader.AddLibrary(lib);
        cxx |= jd.PendingObjectsLookLikeCxx();
        loader.AddDefaultLibraries(cxx);
        double loadMs = sw.Elapsed.TotalMilliseconds;

        LinkedUnit unit;
        try { unit = jd.Link(); }
        catch (StaticTlsExhaustedError e)
        {
            StaticTlsReexec.RestartWithReserve(e);
            throw;
        }
        var entry = jd.Lookup(o.Entry) ?? throw new LinkError($"entry point '{o.Entry}' is not defined");
        if (o.Stats) WriteStats(o, executor, unit, compileMs, loadMs, total.Elapsed.TotalMilliseconds);
        if (o.NoExec) return 0;

        var args = new List<string> { o.Inputs[0] };
        args.AddRange(o.ProgramArgs);
        Console.Out.Flush();
        Console.Error.Flush();
        return executor.RunProgram(new ProgramStart(unit.Initializers, unit.Finalizers, jd.DsoHandle, entry, args));
    }

    static IExecutorControl CreateExecutor(RunOptions o)
    {
        if (o.OutOfProcess || o.Connect is not null) throw new LinkError("out-of-process execution is not available yet");
        return new InProcessExecutorControl();
    }

    static void WriteStats(RunOptions o, IExecutorControl ex, LinkedUnit unit, double compileMs, double loadMs, double totalMs)
    {
        var s = unit.Stats;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string F(double v) => v.ToString("0.###", inv);
        Console.Error.WriteLine(
            $"{{\"compile_ms\":{F(compileMs)},\"load_inputs_ms\":{F(loadMs)},\"passes_ms\":{F(s.PassesMs)},\"layout_alloc_ms\":{F(s.LayoutAllocMs)}," +
            $"\"resolve_ms\":{F(s.ResolveMs)},\"fixup_ms\":{F(s.FixupMs)},\"finalize_ms\":{F(s.FinalizeMs)},\"total_ms\":{F(totalMs)}," +
            $"\"blocks\":{s.Blocks},\"edges\":{s.Edges},\"externals\":{s.Externals},\"bytes\":{s.Bytes}," +
            $"\"executor_round_trips\":{ex.Stats.RoundTrips},\"bytes_sent\":{ex.Stats.BytesSent},\"bytes_received\":{ex.Stats.BytesReceived}}}");
    }
}
