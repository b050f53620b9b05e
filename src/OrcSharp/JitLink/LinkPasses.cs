using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// The passes of one link, by phase (LLVM's PassConfiguration): the backend, the platform's plugins and
/// the link options fill the lists, and <see cref="JitLinker"/> runs each phase's list in order.
/// </summary>
public sealed class LinkPasses
{
    /// <summary>The graph as the objects built it: add blocks, define symbols, mark what must be kept.</summary>
    public List<Action<LinkGraph>> PrePrune { get; } = new();
    /// <summary>Live blocks only, externals resolved, before layout: GOT, stubs, TLS rewriting.</summary>
    public List<Action<LinkGraph>> PostPrune { get; } = new();
    /// <summary>Addresses assigned, nothing written. A pass returns true when it added blocks: the
    /// allocation is then abandoned and layout runs again.</summary>
    public List<Func<LinkGraph, bool>> PostAllocation { get; } = new();
    /// <summary>After fixups, with each block's fixed-up bytes readable.</summary>
    public List<Action<LinkGraph, Func<Block, ReadOnlyMemory<byte>>>> PostFixup { get; } = new();
    /// <summary>Collect the actions to run in the executor at finalization (undone at deallocation).</summary>
    public List<Action<LinkGraph, List<AllocActionCallPair>>> FinalizeActions { get; } = new();

    /// <summary>What the backend's GOT/stub pass learned (set when the post-prune passes have run).</summary>
    public BackendPassResult BackendResult { get; private set; }

    /// <summary>The passes a link gets from its backend, its plugins (in order) and its options.</summary>
    public static LinkPasses For(ILinkBackend backend, IReadOnlyList<ILinkPlugin> plugins, LinkOptions options)
    {
        var p = new LinkPasses();
        foreach (var plugin in plugins) p.PrePrune.Add(plugin.PrePrune);
        if (options.DeadStrip) p.PrePrune.Add(DeadStripping.Run);
        p.PostPrune.Add(g => p.BackendResult = backend.BuildGotAndStubs(g, options));
        p.PostAllocation.Add(backend.AddRangeExtensions);
        foreach (var plugin in plugins)
        {
            p.PostAllocation.Add(plugin.PostAllocation);
            p.PostFixup.Add(plugin.PostFixup);
            p.FinalizeActions.Add(plugin.AddFinalizeActions);
        }
        return p;
    }

    internal static void Run(List<Action<LinkGraph>> passes, LinkGraph graph)
    {
        foreach (var pass in passes) pass(graph);
    }

    /// <summary>Runs every pass (none is skipped); true if any changed the graph.</summary>
    internal static bool RunAll(List<Func<LinkGraph, bool>> passes, LinkGraph graph)
    {
        bool changed = false;
        foreach (var pass in passes) changed |= pass(graph);
        return changed;
    }
}
