using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Appends every function of a link to <c>/tmp/perf-PID.map</c> (PID of this process, the one running the
/// code), one "START SIZE NAME" line each in hex, which perf reads to name samples in anonymous executable
/// memory. The file is flushed per link, since a program may end in exit() or a crash.
/// </summary>
public static class PerfMapWriter
{
    static FileStream? _file;
    static readonly object _lock = new();

    public static string PathFor(int pid) => $"/tmp/perf-{pid}.map";

    public static void Write(in SymbolizationTableReader table)
    {
        var text = new StringBuilder(table.FunctionCount * 40);
        for (int i = 0; i < table.FunctionCount; i++)
        {
            var f = table.Function(i);
            text.Append(f.Start.ToString("x")).Append(' ').Append(f.Size.ToString("x")).Append(' ').Append(f.Name).Append('\n');
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
