using OrcSharp.Shared;

namespace OrcSharp.Memory;

/// <summary>
/// Memory for links that never run (`jitlink -noexec`, LLVM's -slab-address): one slab of executor
/// address space at a chosen address, which need not be mapped anywhere, carved into allocations with
/// its own page size. Working memory lives in this process; finalization writes nothing and runs no
/// action (there is no executor to run them in), so a link can target any address, for any architecture.
/// </summary>
public sealed class NoExecMemoryManager : IJitLinkMemoryManager
{
    readonly AddressRangeAllocator _ranges = new();
    readonly Dictionary<ulong, ulong> _live = new();
    readonly object _lock = new();

    public NoExecMemoryManager(ExecutorAddr slabBase, ulong slabSize, uint pageSize)
    {
        if (pageSize == 0 || (pageSize & (pageSize - 1)) != 0) throw new LinkError($"page size {pageSize} is not a power of two");
        if (slabSize == 0) throw new LinkError("the slab is empty");
        if (slabBase.Value + slabSize < slabBase.Value) throw new LinkError($"a slab of {slabSize} bytes at {slabBase} wraps around the address space");
        SlabBase = slabBase; SlabSize = slabSize; PageSize = pageSize;
        _ranges.AddSlab(slabBase, slabSize);
    }

    public ExecutorAddr SlabBase { get; }
    public ulong SlabSize { get; }
    public uint PageSize { get; }
    public int LiveAllocations { get { lock (_lock) return _live.Count; } }

    public InFlightAlloc Allocate(AllocRequest request)
    {
        var (offsets, total, align) = SegmentPlacement.Lay(request.Segments, PageSize);
        if (!_ranges.TryAllocate(total, align, out var baseAddr))
            throw new LinkError($"cannot allocate {total} bytes from the {SlabSize}-byte slab at {SlabBase} ({_ranges.FreeBytes} bytes free)");
        return new Alloc(this, request, baseAddr, total, offsets);
    }

    public void Deallocate(ReadOnlySpan<FinalizedAlloc> allocations)
    {
        lock (_lock)
            foreach (var a in allocations)
                if (_live.Remove(a.Handle, out ulong size)) _ranges.Free(new ExecutorAddr(a.Handle), size);
    }

    sealed class Alloc(NoExecMemoryManager mm, AllocRequest request, ExecutorAddr baseAddr, ulong total, ulong[] offsets) : InFlightAlloc
    {
        readonly byte[][] _buffers = request.Segments.Select(s => new byte[checked((int)s.ContentSize)]).ToArray();
        bool _done;

        public override int SegmentCount => offsets.Length;
        public override ExecutorAddr SegmentAddress(int segment) => baseAddr + offsets[segment];
        public override Span<byte> WorkingMemory(int segment) => _buffers[segment];

        public override FinalizedAlloc Finalize(IReadOnlyList<AllocActionCallPair> actions)
        {
            if (_done) throw new InvalidOperationException("allocation already finalized or abandoned");
            _done = true;
            lock (mm._lock) mm._live[baseAddr.Value] = total;
            return new FinalizedAlloc(baseAddr.Value);
        }

        public override void Abandon()
        {
            if (_done) return;
            _done = true;
            mm._ranges.Free(baseAddr, total);
        }
    }
}
