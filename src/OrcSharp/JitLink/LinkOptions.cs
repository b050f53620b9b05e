namespace OrcSharp.JitLink;

/// <summary>
/// How a link treats what the objects leave open. The defaults are OrcSharp's (a native link's
/// behaviour: every block is kept); <see cref="LlvmJitLink"/> asks for LLVM JITLink's, as
/// `orcsharp jitlink` does.
/// </summary>
public sealed record LinkOptions
{
    /// <summary>Remove every block that no live symbol reaches through edges (JITLink's prune).</summary>
    public bool DeadStrip { get; init; }

    /// <summary>Branches to absolute symbols go through a stub (bypassed at fixup when the target is in
    /// reach), as branches to symbols defined outside the link do: an absolute target may be anywhere.</summary>
    public bool StubsForAbsoluteTargets { get; init; }

    /// <summary>Segments in LLVM JITLink's order, by protection value (read-only, read-write, then
    /// executable), instead of code first.</summary>
    public bool ProtectionOrderedSegments { get; init; }

    public static LinkOptions Default { get; } = new();

    /// <summary>Whether a branch to <paramref name="target"/> goes through a stub: the target is outside
    /// the link (or, with <see cref="StubsForAbsoluteTargets"/>, absolute), so it may be out of reach.</summary>
    public bool BranchNeedsStub(Symbol target) =>
        target.Kind == SymbolKind.External || (StubsForAbsoluteTargets && target.Kind == SymbolKind.Absolute);

    /// <summary>LLVM JITLink's behaviour.</summary>
    public static LinkOptions LlvmJitLink { get; } = new() { DeadStrip = true, StubsForAbsoluteTargets = true, ProtectionOrderedSegments = true };
}
