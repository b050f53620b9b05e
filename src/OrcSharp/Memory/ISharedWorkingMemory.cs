using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Memory;

/// <summary>
/// Working memory of one allocation that the executor maps as the allocation's segments at finalize, so
/// the segment bytes are not copied to it (a remote executor on the same machine). Disposed by the
/// allocation once finalized or abandoned; the executor's mapping keeps the pages.
/// </summary>
public interface ISharedWorkingMemory : IDisposable
{
    /// <summary>Bytes [offset, offset+length) of the allocation, written locally.</summary>
    Span<byte> Slice(ulong offset, int length);

    /// <summary>The finalize action that maps the memory over <paramref name="segments"/> (placed at their
    /// offsets from <paramref name="allocationBase"/>) with their protections; it must run first.</summary>
    AllocActionCallPair MapAction(ExecutorAddr allocationBase, IReadOnlyList<FinalizeSegment> segments);
}
