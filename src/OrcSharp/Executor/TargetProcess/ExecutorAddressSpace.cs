using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// The memory this process's executor has given out: address space it reserved, and the segments of the
/// allocations it finalized with their protections (from the start of their finalize call until they are
/// deallocated). One table per process, since every executor in a process shares its address space.
/// Services check the addresses a controller sends against it, so a wrong address is an error result, not
/// a write to, a read of or a call into memory the executor never handed out.
/// </summary>
static class ExecutorAddressSpace
{
    static readonly object Lock = new();
    static readonly List<(ulong Start, ulong End)> Reserved = new();
    static readonly List<(ulong Start, ulong End, MemProt Prot)> Finalized = new();

    public static void AddReservation(ExecutorAddr addr, ulong size)
    {
        lock (Lock) Reserved.Add((addr.Value, addr.Value + size));
    }

    /// <summary>Whether [addr, addr+size) lies inside one reservation.</summary>
    public static bool IsReserved(ExecutorAddr addr, ulong size)
    {
        if (!TryEnd(addr, size, out ulong end)) return false;
        lock (Lock)
            foreach (var (s, e) in Reserved)
                if (addr.Value >= s && end <= e) return true;
        return false;
    }

    /// <summary>Whether any byte of [addr, addr+size) belongs to a finalized segment.</summary>
    public static bool OverlapsFinalized(ExecutorAddr addr, ulong size)
    {
        if (!TryEnd(addr, size, out ulong end)) return true;
        lock (Lock)
            foreach (var (s, e, _) in Finalized)
                if (addr.Value < e && end > s) return true;
        return false;
    }

    public static void AddFinalized(ExecutorAddr addr, ulong size, MemProt prot)
    {
        if (size == 0) return;
        lock (Lock) Finalized.Add((addr.Value, addr.Value + size, prot));
    }

    public static void RemoveFinalized(ExecutorAddr addr, ulong size)
    {
        lock (Lock)
        {
            int i = Finalized.FindIndex(f => f.Start == addr.Value && f.End == addr.Value + size);
            if (i >= 0) Finalized.RemoveAt(i);
        }
    }

    /// <summary>The finalized segment that holds all of [addr, addr+size) with at least
    /// <paramref name="prot"/>, as (start, end); null if there is none.</summary>
    public static (ulong Start, ulong End)? FindFinalized(ExecutorAddr addr, ulong size, MemProt prot)
    {
        if (!TryEnd(addr, size, out ulong end)) return null;
        lock (Lock)
            foreach (var (s, e, p) in Finalized)
                if (addr.Value >= s && end <= e && (p & prot) == prot) return (s, e);
        return null;
    }

    /// <summary>Whether <paramref name="addr"/> is in executable memory the executor finalized.</summary>
    public static bool IsFinalizedCode(ExecutorAddr addr) => FindFinalized(addr, 1, MemProt.Exec) is not null;

    static bool TryEnd(ExecutorAddr addr, ulong size, out ulong end)
    {
        end = addr.Value + size;
        return end >= addr.Value;
    }
}
