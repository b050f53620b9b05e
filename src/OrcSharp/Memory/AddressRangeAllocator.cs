using OrcSharp.Shared;

namespace OrcSharp.Memory;

/// <summary>
/// Bookkeeping for executor address space reserved in large slabs: first-fit allocation of aligned ranges
/// and coalescing free. Purely controller-side, so allocation needs no executor round trip.
/// </summary>
public sealed class AddressRangeAllocator
{
    // Free ranges, sorted by start address, per placement kind.
    readonly SortedDictionary<ulong, ulong> _free = new();
    readonly object _lock = new();

    /// <summary>Adds reserved space. For memory that code runs from (<paramref name="forRunnableCode"/>),
    /// all but the first 64 KiB at every 4 GiB boundary inside it: no block may start at an address whose
    /// low 32 bits are zero. libgcc's unwinder takes an FDE whose 4-byte encoded pc_begin has zero low
    /// bits for a discarded link-once function and ignores it, so a function placed there (one run in a
    /// few hundred, where the slab happened to begin at such an address) could not be unwound through and
    /// its exceptions were never caught.</summary>
    public void AddSlab(ExecutorAddr start, ulong size, bool forRunnableCode = false)
    {
        const ulong Boundary = 1UL << 32, Hole = 1UL << 16;
        ulong s = start.Value, end = s + size;
        lock (_lock)
        {
            if (!forRunnableCode) { Insert(s, size); return; }
            while (s < end)
            {
                if ((s & (Boundary - 1)) == 0) { s = Math.Min(end, s + Hole); continue; }
                ulong next = (s | (Boundary - 1)) + 1; // the next boundary above s (0 past the top of memory)
                ulong pieceEnd = next == 0 || next > end ? end : next;
                Insert(s, pieceEnd - s);
                s = pieceEnd;
            }
        }
    }

    public bool TryAllocate(ulong size, ulong alignment, out ExecutorAddr address)
    {
        lock (_lock)
        {
            foreach (var (start, len) in _free)
            {
                ulong aligned = (start + alignment - 1) & ~(alignment - 1);
                if (aligned - start > len || len - (aligned - start) < size) continue;
                _free.Remove(start);
                if (aligned > start) _free[start] = aligned - start;
                ulong end = aligned + size, freeEnd = start + len;
                if (freeEnd > end) _free[end] = freeEnd - end;
                address = new ExecutorAddr(aligned);
                return true;
            }
        }
        address = default;
        return false;
    }

    public void Free(ExecutorAddr start, ulong size)
    {
        if (size == 0) return;
        lock (_lock) Insert(start.Value, size);
    }

    public ulong FreeBytes { get { lock (_lock) return _free.Values.Aggregate(0UL, (a, b) => a + b); } }

    void Insert(ulong start, ulong size)
    {
        ulong end = start + size;
        // Merge with the following range.
        if (_free.TryGetValue(end, out ulong nextLen)) { _free.Remove(end); end += nextLen; }
        // Merge with the preceding range.
        ulong? prev = null;
        foreach (var (s, l) in _free)
        {
            if (s >= start) break;
            if (s + l == start) prev = s;
        }
        if (prev is { } p) { start = p; _free.Remove(p); }
        _free[start] = end - start;
    }
}
