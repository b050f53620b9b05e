using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Memory;

/// <summary>
/// The JIT-link memory manager: reserves executor address space in large slabs (one executor call per
/// slab), carves allocations out of them locally, and finalizes each allocation with one executor call
/// carrying every segment and action. Deallocation of many allocations is one call.
/// </summary>
public sealed class SlabMemoryManager : IJitLinkMemoryManager
{
    public const ulong DefaultSlabSize = 256UL << 20;
    readonly IExecutorMemoryAccess _access;
    readonly AddressRangeAllocator[] _ranges = { new(), new() };
    readonly Dictionary<ulong, (ExecutorAddr Base, ulong Size, Placement Placement)> _live = new();
    readonly object _lock = new();
    readonly ulong _slabSize;
    readonly bool _perAllocation;

    /// <param name="reservationPerAllocation">Reserve exactly each allocation and never reuse its address
    /// space: for executors that know an allocation by its reservation (LLVM's SimpleExecutorMemoryManager
    /// finalizes and deallocates by reservation base).</param>
    public SlabMemoryManager(IExecutorMemoryAccess access, uint pageSize, ulong slabSize = DefaultSlabSize, bool reservationPerAllocation = false)
    {
        _access = access; PageSize = pageSize; _slabSize = slabSize; _perAllocation = reservationPerAllocation;
    }

    public uint PageSize { get; }
    public int LiveAllocations { get { lock (_lock) return _live.Count; } }

    ulong PageAlign(ulong v) => SegmentPlacement.PageAlign(v, PageSize);

    /// <summary>Adds address space the executor reserved on its own (announced at setup).</summary>
    public void AddReservedSlab(Placement placement, ExecutorAddr address, ulong size)
    {
        lock (_lock) _ranges[(int)placement].AddSlab(address, size, forRunnableCode: true);
    }

    public InFlightAlloc Allocate(AllocRequest request)
    {
        var (offsets, total, align) = SegmentPlacement.Lay(request.Segments, PageSize);
        var ranges = _ranges[(int)request.Placement];
        ExecutorAddr baseAddr;
        if (_perAllocation)
        {
            if (align > PageSize) throw new LinkError($"cannot align an allocation to {align} bytes in memory the executor reserves per link");
            return new SlabInFlightAlloc(this, request, _access.Reserve(PageAlign(total), request.Placement), total, offsets);
        }
        // A slab may be split where it crosses a 4 GiB boundary (AddressRangeAllocator.AddSlab); a large
        // request that then fits neither piece gets one more slab.
        for (int attempt = 0; !ranges.TryAllocate(total, align, out baseAddr); attempt++)
        {
            if (attempt == 2) throw new LinkError($"cannot allocate {total} bytes of executor memory");
            ulong slab = Math.Max(_slabSize, PageAlign(total + align));
            ranges.AddSlab(_access.Reserve(slab, request.Placement), slab, forRunnableCode: true);
        }
        return new SlabInFlightAlloc(this, request, baseAddr, total, offsets);
    }

    public void Deallocate(ReadOnlySpan<FinalizedAlloc> allocations)
    {
        if (allocations.IsEmpty) return;
        var handles = new ExecutorAddr[allocations.Length];
        for (int i = 0; i < handles.Length; i++) handles[i] = new ExecutorAddr(allocations[i].Handle);
        try { _access.Deallocate(handles); }
        finally
        {
            lock (_lock)
                foreach (var h in handles)
                    if (_live.Remove(h.Value, out var a) && !_perAllocation) _ranges[(int)a.Placement].Free(a.Base, a.Size);
        }
    }

    sealed class SlabInFlightAlloc : InFlightAlloc
    {
        readonly SlabMemoryManager _mm;
        readonly AllocRequest _request;
        readonly ExecutorAddr _base;
        readonly ulong _total;
        readonly ulong[] _offsets;
        readonly byte[]?[] _buffers;
        readonly ISharedWorkingMemory? _shared;
        bool _done;

        public SlabInFlightAlloc(SlabMemoryManager mm, AllocRequest request, ExecutorAddr baseAddr, ulong total, ulong[] offsets)
        {
            _mm = mm; _request = request; _base = baseAddr; _total = total; _offsets = offsets;
            _buffers = new byte[]?[offsets.Length];
            for (int i = 0; i < offsets.Length; i++)
                if (request.Segments[i].ContentSize > request.Segments[i].Size || request.Segments[i].Size > total - offsets[i])
                    throw new InvalidOperationException($"segment {i} does not fit its allocation (content {request.Segments[i].ContentSize}, size {request.Segments[i].Size})");
            if (mm._access.WorkingMemoryIsTarget)
                for (int i = 0; i < offsets.Length; i++)
                    mm._access.CommitWorkingMemory(baseAddr + offsets[i], mm.PageAlign(request.Segments[i].Size));
            else if ((_shared = mm._access.CreateSharedWorkingMemory(total)) is null)
                for (int i = 0; i < offsets.Length; i++)
                    _buffers[i] = new byte[checked((int)request.Segments[i].ContentSize)];
        }

        public override int SegmentCount => _offsets.Length;
        public override ExecutorAddr SegmentAddress(int segment) => _base + _offsets[segment];

        /// <summary>In process, the target memory itself. In bounds: the constructor checked that the
        /// content part lies inside the segment, whose pages it committed, inside this allocation.</summary>
        public override unsafe Span<byte> WorkingMemory(int segment) =>
            _buffers[segment] is { } b ? b
            : _shared is { } shared ? shared.Slice(_offsets[segment], checked((int)_request.Segments[segment].ContentSize))
            : new Span<byte>((void*)(_base + _offsets[segment]).Value, checked((int)_request.Segments[segment].ContentSize));

        public override FinalizedAlloc Finalize(IReadOnlyList<AllocActionCallPair> actions)
        {
            if (_done) throw new InvalidOperationException("allocation already finalized or abandoned");
            _done = true;
            var segs = new FinalizeSegment[_offsets.Length];
            for (int i = 0; i < segs.Length; i++)
            {
                var r = _request.Segments[i];
                segs[i] = new FinalizeSegment(SegmentAddress(i), r.Size, r.Group.Prot, r.Group.Lifetime,
                    _buffers[i] is { } b ? b : ReadOnlyMemory<byte>.Empty);
            }
            // Shared working memory becomes the segments first, before any action reads them.
            if (_shared is not null) actions = [_shared.MapAction(_base, segs), .. actions];
            ExecutorAddr handle;
            try { handle = _mm._access.Finalize(new FinalizeRequest(segs, actions)); }
            catch
            {
                if (!_mm._perAllocation) _mm._ranges[(int)_request.Placement].Free(_base, _total);
                throw;
            }
            finally { _shared?.Dispose(); }
            if (handle != _base) throw new LinkError($"executor returned allocation handle {handle}, expected {_base}");
            // Finalize-lifetime segments are gone from the executor now; their address space is reusable.
            ulong keep = 0;
            for (int i = 0; i < segs.Length; i++)
                if (segs[i].Lifetime == MemLifetime.Standard) keep = Math.Max(keep, _offsets[i] + _mm.PageAlign(segs[i].Size));
            for (int i = 0; i < segs.Length; i++)
                if (segs[i].Lifetime == MemLifetime.Finalize && _offsets[i] >= keep && !_mm._perAllocation)
                    _mm._ranges[(int)_request.Placement].Free(SegmentAddress(i), _mm.PageAlign(segs[i].Size));
            lock (_mm._lock) _mm._live[_base.Value] = (_base, keep, _request.Placement);
            return new FinalizedAlloc(_base.Value);
        }

        public override void Abandon()
        {
            if (_done) return;
            _done = true;
            _shared?.Dispose();
            _mm._access.Release(_base, _total);
            if (!_mm._perAllocation) _mm._ranges[(int)_request.Placement].Free(_base, _total);
        }
    }
}
