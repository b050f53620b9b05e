using System.Runtime.InteropServices;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// Controller side of shared segment memory (<see cref="SharedSegmentRuntime"/>): one memfd per
/// allocation, mapped here as working memory; fixups write into it, and finalize sends the segments
/// without their bytes plus one action that maps the memfd in the executor. Used with a child executor
/// on this machine that offers it; over TCP, or when it is not offered, the bytes go in the message.
/// </summary>
sealed unsafe partial class SharedSegmentMemory : ISharedWorkingMemory
{
    readonly int _fd;
    readonly byte* _view;
    readonly ulong _size;
    readonly ExecutorAddr _mapFunction;

    SharedSegmentMemory(int fd, byte* view, ulong size, ExecutorAddr mapFunction)
    {
        _fd = fd; _view = view; _size = size; _mapFunction = mapFunction;
    }

    /// <summary>Whether an executor's setup offers shared memory to this process: its boot id is ours.</summary>
    public static bool IsOffered(ExecutorSetupInfo setup, out ExecutorAddr mapFunction)
    {
        mapFunction = default;
        if (!setup.BootstrapMap.TryGetValue(SharedSegmentRuntime.BootstrapKey, out var offer) ||
            !setup.BootstrapSymbols.TryGetValue(BootstrapNames.MapSharedSegments, out mapFunction)) return false;
        try { return new SpsReader(offer).String() is { Length: > 0 } id && id == SharedSegmentRuntime.BootId(); }
        catch (LinkError) { return false; }
    }

    /// <summary>A fresh memfd of <paramref name="size"/> zero bytes mapped here; null if the system refuses
    /// (the caller copies instead).</summary>
    public static SharedSegmentMemory? TryCreate(ulong size, ExecutorAddr mapFunction)
    {
        if (size == 0 || size > int.MaxValue) return null;
        int fd = LibC.memfd_create(SharedSegmentRuntime.MemfdName, LibC.MfdCloexec);
        if (fd < 0) return null;
        if (ftruncate(fd, (long)size) != 0) { LibC.close(fd); return null; }
        nint p = LibC.mmap(0, (nuint)size, LibC.ProtRead | LibC.ProtWrite, MapShared, fd, 0);
        if (p == LibC.MapFailed) { LibC.close(fd); return null; }
        return new SharedSegmentMemory(fd, (byte*)p, size, mapFunction);
    }

    public Span<byte> Slice(ulong offset, int length)
    {
        if (offset > _size || (ulong)length > _size - offset) throw new ArgumentOutOfRangeException(nameof(offset));
        return new Span<byte>(_view + offset, length); // in bounds: checked against the mapping's size
    }

    public AllocActionCallPair MapAction(ExecutorAddr allocationBase, IReadOnlyList<FinalizeSegment> segments)
    {
        var w = new SpsWriter(32 + 25 * segments.Count).U64((ulong)Environment.ProcessId).U64((ulong)_fd);
        int count = 0;
        foreach (var s in segments) if (s.Size > 0) count++;
        w.U64((ulong)count);
        foreach (var s in segments)
            if (s.Size > 0) w.Addr(s.Address).U64(s.Address.Value - allocationBase.Value).U64(s.Size).U8((byte)s.Prot);
        return new AllocActionCallPair(new WrapperCall(_mapFunction, w.ToArray()), null);
    }

    bool _disposed;
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        LibC.munmap((nint)_view, (nuint)_size);
        LibC.close(_fd);
    }

    const int MapShared = 0x01;
    [LibraryImport("libc.so.6", SetLastError = true)] private static partial int ftruncate(int fd, long length);
}
