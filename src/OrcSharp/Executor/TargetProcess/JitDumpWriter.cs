using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Writes the jitdump file <c>perf inject --jit</c> turns into one ELF file per function (perf's
/// Documentation/jitdump-specification.txt, version 1): a header, then for every function of every link a
/// JIT_CODE_DEBUG_INFO record (its source lines, when the link has them) and a JIT_CODE_LOAD record with its
/// code bytes, all stamped with CLOCK_MONOTONIC (record with <c>perf record -k mono</c>). The file is
/// <c>$JITDUMPDIR/.debug/jit/orcsharp-jit-DATE-PID-RANDOM/jit-PID.dump</c> ($HOME when JITDUMPDIR is unset); perf
/// finds it through the executable mapping of its first page that this process keeps. The format has no
/// record for unloading, and a load at an address supersedes the earlier one from its timestamp on; so when
/// a link is removed, each of its functions gets one more JIT_CODE_LOAD, named <c>[unloaded] NAME</c>,
/// stamped with the time of removal: samples in that range from then on are not blamed on the old code.
/// </summary>
public static unsafe partial class JitDumpWriter
{
    const uint Magic = 0x4A695444, Version = 1; // "JiTD"
    const uint CodeLoad = 0, DebugInfo = 2;
    const int HeaderSize = 40, PrefixSize = 16;

    [LibraryImport("libc.so.6")] private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
    [LibraryImport("libc.so.6")] private static partial int gettid();

    static FileStream? _file;
    static ulong _codeIndex;
    static readonly object _lock = new();

    /// <summary>The dump file, once the first link has been written.</summary>
    public static string? FilePath => _file?.Name;

    static ulong Timestamp() => Stopwatch.Frequency == 1_000_000_000 ? (ulong)Stopwatch.GetTimestamp()
        : (ulong)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));

    /// <summary>Appends the functions of <paramref name="table"/>, as loaded (with their lines) or, when
    /// their link is being removed (the code is still mapped), as unloaded.</summary>
    public static void Write(in SymbolizationTableReader table, bool unloaded = false)
    {
        lock (_lock)
        {
            var file = _file ??= Open();
            var record = new MemoryStream();
            uint pid = (uint)Environment.ProcessId, tid = (uint)gettid();
            Span<byte> h = stackalloc byte[PrefixSize + 40];
            for (int i = 0; i < table.FunctionCount; i++)
            {
                var f = table.Function(i);
                if (f.Size == 0 || f.Size > int.MaxValue) continue;
                if (!unloaded) WriteDebugInfo(record, table, f);
                var name = Encoding.UTF8.GetBytes((unloaded ? PerfMapWriter.UnloadedPrefix : "") + f.Name + "\0");
                int size = PrefixSize + 40 + name.Length + (int)f.Size;
                Prefix(h, CodeLoad, size);
                BinaryPrimitives.WriteUInt32LittleEndian(h[16..], pid);
                BinaryPrimitives.WriteUInt32LittleEndian(h[20..], tid);
                BinaryPrimitives.WriteUInt64LittleEndian(h[24..], f.Start); // vma
                BinaryPrimitives.WriteUInt64LittleEndian(h[32..], f.Start); // code address
                BinaryPrimitives.WriteUInt64LittleEndian(h[40..], f.Size);
                BinaryPrimitives.WriteUInt64LittleEndian(h[48..], _codeIndex++);
                record.Write(h);
                record.Write(name);
                record.Write(new ReadOnlySpan<byte>((void*)f.Start, (int)f.Size)); // the code, as it runs here
            }
            record.Position = 0;
            record.CopyTo(file);
            file.Flush();
        }
    }

    static void WriteDebugInfo(MemoryStream record, in SymbolizationTableReader table, SymbolizationTable.Function f)
    {
        var entries = new MemoryStream();
        int count = 0;
        SymbolizationTable.SourceLine? last = null;
        Span<byte> e = stackalloc byte[16];
        for (int i = table.FirstLineAtOrAbove(f.Start); i < table.LineCount; i++)
        {
            var (address, source) = table.Line(i);
            if (address >= f.Start + f.Size) break;
            if (source is not { } s) continue;
            BinaryPrimitives.WriteUInt64LittleEndian(e, address);
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], s.Line);
            BinaryPrimitives.WriteUInt32LittleEndian(e[12..], 0); // discriminator
            entries.Write(e);
            entries.Write(Encoding.UTF8.GetBytes(s.File + "\0"));
            count++;
            last = s;
        }
        if (last is not { } end) return;
        // perf inject ends a function's line table at its last entry, so that entry would cover nothing:
        // one more at the function's end gives the real last row its range.
        BinaryPrimitives.WriteUInt64LittleEndian(e, f.Start + f.Size);
        BinaryPrimitives.WriteUInt32LittleEndian(e[8..], end.Line);
        entries.Write(e);
        entries.Write(Encoding.UTF8.GetBytes(end.File + "\0"));
        count++;
        Span<byte> h = stackalloc byte[PrefixSize + 16];
        Prefix(h, DebugInfo, h.Length + (int)entries.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(h[16..], f.Start);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], (ulong)count);
        record.Write(h);
        entries.Position = 0;
        entries.CopyTo(record);
    }

    static void Prefix(Span<byte> h, uint id, int totalSize)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(h, id);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)totalSize);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], Timestamp());
    }

    static FileStream Open()
    {
        string root = Environment.GetEnvironmentVariable("JITDUMPDIR") is { Length: > 0 } d ? d
            : Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : ".";
        string dir = Path.Combine(root, ".debug", "jit", $"orcsharp-jit-{DateTime.Now:yyyyMMdd}-{Environment.ProcessId}-{Random.Shared.Next():x8}");
        Directory.CreateDirectory(dir);
        var file = new FileStream(Path.Combine(dir, $"jit-{Environment.ProcessId}.dump"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 1);
        Span<byte> h = stackalloc byte[HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(h, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], HostElfMachine());
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], (uint)Environment.ProcessId);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], Timestamp());
        file.Write(h);
        file.Flush();
        // The marker perf record looks for: an executable mapping of the file (kept for the process's life).
        mmap(0, (nuint)Environment.SystemPageSize, LibC.ProtRead | LibC.ProtExec, LibC.MapPrivate, (int)file.SafeFileHandle.DangerousGetHandle(), 0);
        return file;
    }

    static uint HostElfMachine() => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 183u : 62u;
}
