using OrcSharp.Shared;

namespace OrcSharp.Memory;

/// <summary>One segment of an allocation: all blocks with the same protection and lifetime.
/// <see cref="ContentSize"/> bytes come from working memory; the rest up to <see cref="Size"/> is zero-fill.</summary>
public readonly record struct SegmentRequest(AllocGroup Group, ulong Size, ulong ContentSize, ulong Alignment);

/// <summary>Where the executor memory must be. Code built without -fPIC uses 32-bit absolute addresses,
/// so it must live in the low 2 GiB; everything else is placed near the process's shared libraries so
/// PC-relative references to library data reach.</summary>
public enum Placement : byte { NearLibraries, Low32 }

public sealed record AllocRequest(IReadOnlyList<SegmentRequest> Segments, Placement Placement);

/// <summary>
/// An allocation whose executor addresses are assigned but whose bytes are still only in working memory:
/// fixups are applied there. Finalize copies (or, in-process, exposes) the bytes, applies protections and
/// runs the finalize actions in one executor call; Abandon releases everything.
/// </summary>
public abstract class InFlightAlloc
{
    public abstract int SegmentCount { get; }
    public abstract ExecutorAddr SegmentAddress(int segment);
    /// <summary>Working memory for a segment's content part (the zero-fill tail is not included).</summary>
    public abstract Span<byte> WorkingMemory(int segment);
    public abstract FinalizedAlloc Finalize(IReadOnlyList<AllocActionCallPair> actions);
    public abstract void Abandon();
}

/// <summary>A finalized allocation: one 64-bit handle, meaningful to the memory manager that made it.</summary>
public readonly record struct FinalizedAlloc(ulong Handle);

public interface IJitLinkMemoryManager
{
    uint PageSize { get; }
    InFlightAlloc Allocate(AllocRequest request);
    /// <summary>Frees many allocations at once: their dealloc actions run in reverse, then memory is released.</summary>
    void Deallocate(ReadOnlySpan<FinalizedAlloc> allocations);
    /// <summary>Number of finalized allocations not yet deallocated.</summary>
    int LiveAllocations { get; }
}
