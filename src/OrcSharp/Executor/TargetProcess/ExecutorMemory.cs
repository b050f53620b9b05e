using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>A segment to finalize: its bytes (empty when they are already in place), protection, lifetime.</summary>
public readonly record struct FinalizeSegment(ExecutorAddr Address, ulong Size, MemProt Prot, MemLifetime Lifetime, ReadOnlyMemory<byte> Content);

public sealed record FinalizeRequest(IReadOnlyList<FinalizeSegment> Segments, IReadOnlyList<AllocActionCallPair> Actions);

/// <summary>
/// Executor-side memory service: reserves address space where the linked code can reach what it must,
/// and finalizes allocations (copy, protect, run actions) and deallocates them (dealloc actions, release).
/// The same object serves the in-process executor directly and the remote executor's wrapper functions.
/// </summary>
public sealed class ExecutorMemory
{
    readonly object _lock = new();
    readonly Dictionary<ulong, (List<(ExecutorAddr, ulong)> Ranges, List<WrapperCall> DeallocActions)> _live = new();
    public static uint PageSize { get; } = (uint)Environment.SystemPageSize;
    /// <summary>Largest reservation: far more than any link needs, far less than the address space.</summary>
    const ulong MaxReservation = 1UL << 40;
    /// <summary>The runtime's wrapper functions: what finalize and dealloc actions may call besides JIT'd code.</summary>
    static readonly HashSet<ulong> Wrappers = BootstrapSymbols.Functions().Values.Select(a => a.Value).ToHashSet();

    public int LiveCount { get { lock (_lock) return _live.Count; } }

    /// <summary>Whether finalize and dealloc actions may call only the runtime's wrapper functions and
    /// finalized code: so for a remote controller; a host in this process may register its own functions.</summary>
    public bool CheckActionTargets { get; init; }

    /// <summary>File names of the libraries JIT'd code links against; new memory is placed near them.</summary>
    readonly HashSet<string> _libraries = new(StringComparer.Ordinal) { "libc.so.6" };

    /// <summary>Records a library loaded for JIT'd code (by its real path) so reservations stay in reach.</summary>
    public void NoteLibrary(string path)
    {
        string real = Path.GetFullPath(path);
        try { if (new FileInfo(real).ResolveLinkTarget(true) is { } t) real = t.FullName; } catch (IOException) { }
        lock (_lock) _libraries.Add(Path.GetFileName(real));
    }

    /// <summary>Reserves <paramref name="size"/> bytes of inaccessible address space for later allocations.</summary>
    public ExecutorAddr Reserve(ulong size, Memory.Placement placement)
    {
        if (size == 0 || size > MaxReservation)
            throw new LinkError($"executor: cannot reserve {size} bytes: a reservation is between one byte and {MaxReservation >> 30} GiB");
        size = RoundUp(size);
        nint p = placement == Memory.Placement.Low32
            ? LibC.mmap(0, (nuint)size, LibC.ProtNone, LibC.MapPrivate | LibC.MapAnonymous | LibC.MapNoReserve | LibC.Map32Bit, -1, 0)
            : AddressSpaceSearch.ReserveNearLibraries(size, Snapshot());
        if (p == LibC.MapFailed || p == 0)
            throw new LinkError($"executor: cannot reserve {size >> 20} MiB of address space ({(placement == Memory.Placement.Low32 ? "below 2 GiB" : "near shared libraries")}): {LibC.ErrnoText()}");
        ExecutorAddressSpace.AddReservation(new ExecutorAddr((ulong)p), size);
        return new ExecutorAddr((ulong)p);
    }

    string[] Snapshot() { lock (_lock) return _libraries.ToArray(); }

    /// <summary>Makes a reserved range readable and writable (fresh zero pages) and returns it as working memory.</summary>
    public unsafe Span<byte> Commit(ExecutorAddr addr, ulong size)
    {
        if (size == 0) return default;
        // Populated in one call: fixups touch every page next, and one fault per page costs more.
        nint p = LibC.mmap((nint)addr.Value, (nuint)size, LibC.ProtRead | LibC.ProtWrite, LibC.MapPrivate | LibC.MapAnonymous | LibC.MapFixed | LibC.MapPopulate, -1, 0);
        if (p == LibC.MapFailed) throw new LinkError($"executor: cannot commit memory at {addr}: {LibC.ErrnoText()}");
        return new Span<byte>((void*)p, checked((int)size)); // in bounds: exactly the pages just mapped
    }

    /// <summary>Returns a range to inaccessible, unbacked reserved space.</summary>
    public static void Decommit(ExecutorAddr addr, ulong size)
    {
        if (size == 0) return;
        LibC.mmap((nint)addr.Value, (nuint)size, LibC.ProtNone, LibC.MapPrivate | LibC.MapAnonymous | LibC.MapFixed | LibC.MapNoReserve, -1, 0);
    }

    /// <summary>Copies content, applies protections, runs finalize actions and releases finalize-lifetime
    /// segments. Returns the allocation's handle. Segments must lie in address space this executor
    /// reserved and not in a live allocation, and (see <see cref="CheckActionTargets"/>) actions may call
    /// only the runtime's wrapper functions or code in finalized memory: anything else is an error before
    /// any byte is written. On a failing action everything done so far is undone.</summary>
    public unsafe ExecutorAddr Finalize(FinalizeRequest request)
    {
        ExecutorAddr handle = request.Segments.Count > 0 ? request.Segments[0].Address : default;
        Validate(request, handle);
        var standard = new List<(ExecutorAddr, ulong)>();
        foreach (var seg in request.Segments)
        {
            ulong pages = RoundUp(seg.Size);
            if (!seg.Content.IsEmpty)
            {
                var dst = Commit(seg.Address, pages);
                seg.Content.Span.CopyTo(dst);
            }
            if (seg.Lifetime == MemLifetime.Standard) standard.Add((seg.Address, pages));
        }
        foreach (var seg in request.Segments)
        {
            if (seg.Size == 0) continue;
            int prot = ((seg.Prot & MemProt.Read) != 0 ? LibC.ProtRead : 0) | ((seg.Prot & MemProt.Write) != 0 ? LibC.ProtWrite : 0) |
                       ((seg.Prot & MemProt.Exec) != 0 ? LibC.ProtExec : 0);
            if ((seg.Prot & MemProt.Exec) != 0 && RuntimeInformation.ProcessArchitecture != Architecture.X64)
                LibC.__clear_cache((nint)seg.Address.Value, (nint)(seg.Address.Value + seg.Size));
            if (LibC.mprotect((nint)seg.Address.Value, (nuint)RoundUp(seg.Size), prot) != 0)
                throw new LinkError($"executor: mprotect failed at {seg.Address}: {LibC.ErrnoText()}");
        }
        // Known from here on, so the actions (eh-frame registration, copy relocations) may use the segments.
        foreach (var seg in request.Segments) ExecutorAddressSpace.AddFinalized(seg.Address, RoundUp(seg.Size), seg.Prot);
        var deallocs = new List<WrapperCall>();
        try
        {
            foreach (var action in request.Actions)
            {
                if (!action.Finalize.Function.IsNull) WrapperFunctions.CallChecked(action.Finalize, "finalize action");
                if (action.Dealloc is { } d) deallocs.Add(d);
            }
        }
        catch
        {
            RunDeallocActions(deallocs);
            foreach (var seg in request.Segments)
            {
                ExecutorAddressSpace.RemoveFinalized(seg.Address, RoundUp(seg.Size));
                Decommit(seg.Address, RoundUp(seg.Size));
            }
            throw;
        }
        foreach (var seg in request.Segments)
            if (seg.Lifetime == MemLifetime.Finalize)
            {
                ExecutorAddressSpace.RemoveFinalized(seg.Address, RoundUp(seg.Size));
                Decommit(seg.Address, RoundUp(seg.Size));
            }
        lock (_lock) _live[handle.Value] = (standard, deallocs);
        return handle;
    }

    /// <summary>Checks a finalize request against what this executor gave out (see <see cref="Finalize"/>).</summary>
    void Validate(FinalizeRequest request, ExecutorAddr handle)
    {
        foreach (var seg in request.Segments)
        {
            if ((ulong)seg.Content.Length > seg.Size) throw new LinkError($"executor: segment at {seg.Address} has more content than size");
            if (seg.Size == 0) continue;
            if (seg.Address.Value % PageSize != 0 || !ExecutorAddressSpace.IsReserved(seg.Address, RoundUp(seg.Size)))
                throw new LinkError($"executor: segment at {seg.Address} ({seg.Size} bytes) is not in memory this executor reserved");
            if (ExecutorAddressSpace.OverlapsFinalized(seg.Address, RoundUp(seg.Size)))
                throw new LinkError($"executor: segment at {seg.Address} ({seg.Size} bytes) overlaps a live allocation");
        }
        lock (_lock)
            if (!handle.IsNull && _live.ContainsKey(handle.Value)) throw new LinkError($"executor: allocation {handle} is already finalized");
        bool Callable(ExecutorAddr f) =>
            Wrappers.Contains(f.Value) || ExecutorAddressSpace.IsFinalizedCode(f) ||
            request.Segments.Any(s => (s.Prot & MemProt.Exec) != 0 && f >= s.Address && f.Value - s.Address.Value < s.Size);
        foreach (var action in CheckActionTargets ? request.Actions : [])
        {
            if (!action.Finalize.Function.IsNull && !Callable(action.Finalize.Function))
                throw new LinkError($"executor: finalize action at {action.Finalize.Function} is neither a runtime function nor finalized code");
            if (action.Dealloc is { } d && !Callable(d.Function))
                throw new LinkError($"executor: dealloc action at {d.Function} is neither a runtime function nor finalized code");
        }
    }

    /// <summary>Runs the dealloc actions of each allocation (in reverse) and releases its memory.
    /// Returns the ranges released so the controller can reuse the address space.</summary>
    public List<(ExecutorAddr, ulong)> Deallocate(ReadOnlySpan<ExecutorAddr> handles)
    {
        var released = new List<(ExecutorAddr, ulong)>();
        List<string>? errors = null;
        for (int i = handles.Length - 1; i >= 0; i--)
        {
            (List<(ExecutorAddr, ulong)> Ranges, List<WrapperCall> DeallocActions) entry;
            lock (_lock)
            {
                if (!_live.Remove(handles[i].Value, out entry))
                {
                    (errors ??= new()).Add($"no allocation with handle {handles[i]}");
                    continue;
                }
            }
            try { RunDeallocActions(entry.DeallocActions); }
            catch (LinkError e) { (errors ??= new()).Add(e.Message); }
            foreach (var (a, s) in entry.Ranges) { Decommit(a, s); released.Add((a, s)); }
            foreach (var (a, s) in entry.Ranges) ExecutorAddressSpace.RemoveFinalized(a, s);
        }
        if (errors is not null) throw new LinkError("executor: deallocation: " + string.Join("; ", errors));
        return released;
    }

    /// <summary>Returns reserved memory that no live allocation uses to inaccessible space (an abandoned
    /// in-flight allocation).</summary>
    public static void Release(ExecutorAddr addr, ulong size)
    {
        if (size == 0) return;
        if (addr.Value % PageSize != 0 || !ExecutorAddressSpace.IsReserved(addr, RoundUp(size)))
            throw new LinkError($"executor: cannot release {addr} ({size} bytes): not memory this executor reserved");
        if (ExecutorAddressSpace.OverlapsFinalized(addr, RoundUp(size)))
            throw new LinkError($"executor: cannot release {addr} ({size} bytes): it holds a live allocation (deallocate it instead)");
        Decommit(addr, RoundUp(size));
    }

    static void RunDeallocActions(List<WrapperCall> deallocs)
    {
        for (int i = deallocs.Count - 1; i >= 0; i--) WrapperFunctions.CallChecked(deallocs[i], "dealloc action");
    }

    public static ulong RoundUp(ulong size) => (size + PageSize - 1) & ~((ulong)PageSize - 1);
}
