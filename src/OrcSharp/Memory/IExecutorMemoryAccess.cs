using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Memory;

/// <summary>
/// The executor-side memory services the controller's memory manager needs: reserve address space,
/// finalize an allocation, deallocate allocations. In-process they are direct calls; remotely each is one
/// wrapper-function call.
/// </summary>
public interface IExecutorMemoryAccess
{
    /// <summary>True when working memory can be the target memory itself (in-process): no copy at finalize.</summary>
    bool WorkingMemoryIsTarget { get; }
    ExecutorAddr Reserve(ulong size, Placement placement);
    /// <summary>In-process only: make [addr, addr+size) writable and return it.</summary>
    Span<byte> CommitWorkingMemory(ExecutorAddr addr, ulong size);
    /// <summary>Working memory the executor maps at finalize instead of receiving a copy; null when the
    /// executor cannot share memory with this process (the bytes then go in the finalize request).</summary>
    ISharedWorkingMemory? CreateSharedWorkingMemory(ulong size) => null;
    ExecutorAddr Finalize(FinalizeRequest request);
    void Deallocate(ReadOnlySpan<ExecutorAddr> handles);
    /// <summary>Releases reserved-but-unused address space (after an abandoned allocation).</summary>
    void Release(ExecutorAddr addr, ulong size);
}
