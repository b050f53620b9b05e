using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Appends every function of a link to <c>/tmp/perf-PID.map</c> (PID of this process, the one running the
/// code), one "START SIZE NAME" line each in hex, which perf reads to name samples in anonymous executable
/// memory. The file is flushed per link, since a program may end in exit() or a crash. When a link is
/// removed its lines are written again, named <c>[unloaded] NAME</c>: a map has no notion of time, so
/// this is how it records that the range no longer holds that code.
/// </summary>
public static class PerfMapWriter
{
    static FileStream? _file;
    static readonly object _lock = new();

    public static string PathFor(int pid) => $"/tmp/perf-{pid}.map";

    /// <summary>The marker before the name of a function that has been removed.</summary>
    public const string UnloadedPrefix = "[unloaded] ";

    /// <summary>Appends the functions of <paramref name="table"/>, as loaded or, once their link is removed, unloaded.</summary>
    public static void Write(in SymbolizationTableReader table, bool unloaded = false)
    {
        var text = new StringBuilder(table.FunctionCount * 40);
        for (int i = 0; i < table.FunctionCount; i++)
        {
            var f = table.Function(i);
            text.Append(f.Start.ToString("x")).Append(' ').Append(f.Size.ToString("x")).Append(' ');
            if (unloaded) text.Append(UnloadedPrefix);
            text.Append(f.Name).Append('\n');
        }
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        lock (_lock)
        {
            _file ??= new FileStream(PathFor(Environment.ProcessId), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1);
            _file.Write(bytes);
            _file.Flush();
        }
    }
}
