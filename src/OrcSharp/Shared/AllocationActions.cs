namespace OrcSharp.Shared;

/// <summary>A call made in the executor: a wrapper function at <see cref="Function"/> given
/// <see cref="Argument"/> (SPS-encoded bytes). Used for finalize and dealloc actions.</summary>
public readonly record struct WrapperCall(ExecutorAddr Function, byte[] Argument);

/// <summary>A finalize action and the dealloc action that undoes it (eh-frame registration and
/// deregistration, say). Dealloc actions run in reverse order when the allocation is freed. A finalize
/// call to the null address does nothing: the pair then only ties a release to the allocation.</summary>
public readonly record struct AllocActionCallPair(WrapperCall Finalize, WrapperCall? Dealloc);
