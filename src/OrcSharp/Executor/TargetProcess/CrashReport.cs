using System.Runtime.InteropServices;
using System.Text;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Symbolized crash reports for JIT'd code (docs/debugging.md). The signal handler is native code linked
/// into the orcsharp executable (src/OrcSharp.Cli/Native/crash_handler.c): at signal time it only reads the
/// tables kept here, in native memory, on a list it walks without a lock; it unwinds with libgcc (which
/// knows every JIT'd .eh_frame) and writes with write(2). Installing is for the process's owner (the
/// CLI, the executor command); a library host keeps its own signal policy, and in a process without the
/// native handler <see cref="Install"/> says so and the tables are merely kept.
/// </summary>
public static unsafe class CrashReport
{
    [StructLayout(LayoutKind.Sequential)]
    struct Node
    {
        public Node* Next;
        public byte* Table;
    }

    static readonly Node** _tables = (Node**)NativeMemory.AllocZeroed((nuint)sizeof(nint));
    static readonly object _lock = new();
    static readonly delegate* unmanaged<Node**, int, byte*, int> _install =
        (delegate* unmanaged<Node**, int, byte*, int>)LibC.dlsym(0, "orcsharp_crash_report_install");
    static readonly delegate* unmanaged<nint> _enterThread = (delegate* unmanaged<nint>)LibC.dlsym(0, "orcsharp_crash_report_enter_thread");
    static readonly delegate* unmanaged<nint, void> _leaveThread = (delegate* unmanaged<nint, void>)LibC.dlsym(0, "orcsharp_crash_report_leave_thread");
    static readonly delegate* unmanaged<nuint, void> _prepare = (delegate* unmanaged<nuint, void>)LibC.dlsym(0, "orcsharp_crash_report_prepare");

    /// <summary>Whether the handler is installed in this process.</summary>
    public static bool IsInstalled { get; private set; }

    /// <summary>Installs the handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT. Reports go to
    /// <paramref name="fd"/>, after <paramref name="firstLine"/> and the signal's name when one is given.
    /// Signals in code that is not JIT'd and has no JIT'd caller go to the handlers that were there
    /// before (the .NET runtime's, which turn managed faults into exceptions). False when this process
    /// has no native handler.</summary>
    public static bool Install(int fd, string? firstLine)
    {
        if (_install == null) return false;
        var line = firstLine is null ? null : Encoding.UTF8.GetBytes(firstLine + "\0");
        fixed (byte* l = line)
            if (_install(_tables, fd, l) != 0) return false;
        IsInstalled = true;
        return true;
    }

    /// <summary>Gives the calling thread an alternate signal stack for as long as it runs JIT'd code, so a
    /// stack overflow is reported too (a no-op without the handler).</summary>
    public static ThreadScope OnThisThread() => new(IsInstalled ? _enterThread() : 0);

    public readonly struct ThreadScope(nint stack) : IDisposable
    {
        public void Dispose() { if (stack != 0) _leaveThread(stack); }
    }

    /// <summary>Adds a link's symbolization table (it must stay in memory until <see cref="Remove"/>).</summary>
    internal static nint Add(byte* table, ulong codeStart)
    {
        var n = (Node*)NativeMemory.Alloc((nuint)sizeof(Node));
        n->Table = table;
        lock (_lock)
        {
            n->Next = *_tables;
            Volatile.Write(ref *(nint*)_tables, (nint)n);
        }
        // The unwinder sorts newly registered frame tables on first use, with malloc: done now rather
        // than in a signal handler that may have interrupted malloc.
        if (IsInstalled && codeStart != 0) _prepare((nuint)codeStart);
        return (nint)n;
    }

    internal static void Remove(nint node)
    {
        lock (_lock)
        {
            for (Node** link = _tables; *link != null; link = &(*link)->Next)
                if (*link == (Node*)node) { Volatile.Write(ref *(nint*)link, (nint)(*link)->Next); break; }
        }
        NativeMemory.Free((void*)node);
    }

    /// <summary>Whether a table on the list covers code at <paramref name="address"/> (as the handler looks).</summary>
    public static bool HasTableFor(ulong address)
    {
        lock (_lock)
            for (var p = *_tables; p != null; p = p->Next)
            {
                ulong start = *(ulong*)(p->Table + 8), end = *(ulong*)(p->Table + 16);
                if (address >= start && address < end) return true;
            }
        return false;
    }
}
