using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>A pass that platforms and plugins add to the link pipeline.</summary>
public interface ILinkPlugin
{
    /// <summary>Before dead-stripping, the GOT/stub pass and layout: add or reorder blocks, define symbols,
    /// mark blocks nothing refers to that must stay (<see cref="Block.KeepAlive"/>). Externals are not
    /// resolved yet.</summary>
    void PrePrune(LinkGraph graph) { }
    /// <summary>After addresses are assigned, before fixups. Returns true if it changed the graph (added
    /// blocks), in which case the allocation is abandoned and layout runs again.</summary>
    bool PostAllocation(LinkGraph graph) => false;
    /// <summary>After fixups, with the fixed-up working memory readable: collect what finalize and run need.</summary>
    void PostFixup(LinkGraph graph, Func<Block, ReadOnlyMemory<byte>> fixedUpContent) { }
    /// <summary>Actions to run in the executor at finalization (and undo at deallocation).</summary>
    void AddFinalizeActions(LinkGraph graph, List<AllocActionCallPair> actions) { }
}

/// <summary>Resolves a graph's external symbols to executor addresses in one batch. Returns null for a
/// symbol that is not found (weak ones then resolve to 0; strong ones are an error).</summary>
public delegate ExecutorAddr?[] ExternalResolver(IReadOnlyList<Symbol> externals);

/// <summary>Phase timings and counters of one link, for --stats.</summary>
public sealed class LinkStats
{
    /// <summary>Building the graph: objects parsed, archive members pulled in, relocations to edges.</summary>
    public double ParseMs, ArchivesMs, EdgesMs;
    public double PassesMs, LayoutAllocMs, ResolveMs, FixupMs, FinalizeMs;
    public int Blocks, Edges, Externals;
    public ulong Bytes;
}

/// <summary>
/// The generic link algorithm, in named phases (LLVM's linkPhase1..4): graph passes and dead-stripping
/// (pre-prune), external resolution, the GOT/stub passes (post-prune), layout into segments by protection
/// and lifetime with allocation (post-allocation passes may add veneers and lay out again), fixups in
/// working memory (in parallel per block), post-fixup passes, and finalization in one executor call.
/// Nothing runs and nothing stays allocated if any step fails.
/// </summary>
public static class JitLinker
{
    public static FinalizedAlloc Link(LinkGraph graph, ILinkBackend backend, IJitLinkMemoryManager memory,
        ExternalResolver resolve, IReadOnlyList<ILinkPlugin> plugins, LinkStats? stats = null, ITlsModuleHost? tls = null,
        LinkOptions? options = null)
    {
        options ??= LinkOptions.Default;
        var passes = LinkPasses.For(backend, plugins, options);
        var clock = new PhaseClock(stats);

        LinkPasses.Run(passes.PrePrune, graph);
        clock.Lap((s, ms) => s.PassesMs += ms);
        // External addresses are known before layout (everything they name already exists in the
        // executor), so passes can decide between direct references, stubs and copies. Thread-locals of
        // shared libraries come with the module that holds them in static TLS.
        var modules = new List<TlsModule>(2);
        bool modulesOwnedByAllocation = false;
        InFlightAlloc? alloc = null;
        try
        {
            if (ResolveExternals(graph, resolve, tls) is { } imported) modules.Add(imported);
            clock.Lap((s, ms) => s.ResolveMs += ms);
            LinkPasses.Run(passes.PostPrune, graph);
            var tlsImage = ThreadLocalImage.Compute(graph);
            if (!tlsImage.IsEmpty && tls is null) throw new LinkError($"{graph.Name}: uses thread-local storage, which this executor does not provide");
            clock.Lap((s, ms) => s.PassesMs += ms);

            (var layout, alloc) = Allocate(graph, memory, passes, options);
            clock.Lap((s, ms) => s.LayoutAllocMs += ms);
            var ctx = new FixupContext(GlobalOffsetTable.FindBase(graph)?.Address ?? default);
            if (!tlsImage.IsEmpty)
            {
                // The initial image must hold its final bytes before the thread library copies it into
                // every thread; code that addresses TLS needs the module's offset, so it is fixed up after.
                var initialImage = tlsImage.BuildInitialImage(backend, ctx);
                var tlsModule = tls!.CreateTlsModule(initialImage, tlsImage.MemSize, tlsImage.Alignment);
                modules.Add(tlsModule);
                graph.TlsModule = tlsModule;
                ctx = ctx with { TlsModule = tlsModule };
            }
            ApplyFixups(layout, alloc, backend, ctx);
            clock.Lap((s, ms) => s.FixupMs += ms);
            if (stats is not null) Count(stats, graph, layout);

            var inflight = alloc;
            ReadOnlyMemory<byte> FixedUp(Block b)
            {
                var (seg, off) = layout.Where(b);
                return inflight.WorkingMemory(seg).Slice((int)off, (int)b.Size).ToArray();
            }
            foreach (var pass in passes.PostFixup) pass(graph, FixedUp);

            var actions = new List<AllocActionCallPair>();
            // First in, so their release runs last, after every other dealloc action.
            foreach (var m in modules) actions.Add(new AllocActionCallPair(default, tls!.ReleaseAction(m)));
            foreach (var pass in passes.FinalizeActions) pass(graph, actions);
            modulesOwnedByAllocation = true;
            var result = alloc.Finalize(actions);
            clock.Lap((s, ms) => s.FinalizeMs += ms);
            return result;
        }
        catch
        {
            alloc?.Abandon();
            if (!modulesOwnedByAllocation) foreach (var m in modules) tls!.ReleaseTlsModule(m);
            throw;
        }
    }

    /// <summary>Layout, allocation and address assignment, then the post-allocation passes; when they add
    /// blocks (veneers) the allocation is abandoned and everything is laid out again.</summary>
    static (SegmentLayout, InFlightAlloc) Allocate(LinkGraph graph, IJitLinkMemoryManager memory, LinkPasses passes, LinkOptions options)
    {
        var placement = passes.BackendResult.NeedsLow32BitAddresses ? Placement.Low32 : Placement.NearLibraries;
        for (int attempt = 0; ; attempt++)
        {
            var layout = SegmentLayout.Compute(graph, options.ProtectionOrderedSegments);
            var alloc = memory.Allocate(new AllocRequest(layout.Requests, placement));
            bool changed;
            try
            {
                layout.AssignAddresses(alloc);
                changed = LinkPasses.RunAll(passes.PostAllocation, graph);
            }
            catch
            {
                alloc.Abandon();
                throw;
            }
            // A second layout can push another branch out of reach; a third settles any real program.
            if (!changed || attempt >= 2) return (layout, alloc);
            alloc.Abandon();
        }
    }

    static void ApplyFixups(SegmentLayout layout, InFlightAlloc alloc, ILinkBackend backend, FixupContext ctx)
    {
        var work = layout.ContentBlocks;
        long bytes = 0;
        bool release = false;
        foreach (var (block, _, _) in work)
        {
            bytes += (long)block.Size;
            release |= MappedFile.IsReleasable(block.Content);
        }
        if (release) CopyReleasingInputs(work, alloc, bytes);
        ParallelLink.For(work.Count, bytes, i =>
        {
            var (block, segment, offset) = work[i];
            var mem = alloc.WorkingMemory(segment).Slice((int)offset, (int)block.Size);
            if (!release) block.Content.Span.CopyTo(mem);
            if (block.Edges.Count > 0) backend.ApplyFixups(block, mem, ctx);
        });
    }

    /// <summary>
    /// Copies block contents into working memory in input order, releasing each megabyte of a large input
    /// once it is copied (<see cref="MappedFile.Release"/>): the input's pages go as the image's pages come,
    /// instead of both being resident when fixups start. Fixups then work on the copies alone.
    /// </summary>
    static unsafe void CopyReleasingInputs(List<(Block Block, int Segment, ulong Offset)> work, InFlightAlloc alloc, long bytes)
    {
        // By address of the content: a mapped input's blocks come in file order (the order only matters there).
        var order = new (ulong Address, int Index)[work.Count];
        for (int i = 0; i < order.Length; i++)
            order[i] = ((ulong)Unsafe.AsPointer(ref MemoryMarshal.GetReference(work[i].Block.Content.Span)), i);
        Array.Sort(order);
        int chunks = Math.Max(1, Math.Min(order.Length, Environment.ProcessorCount * 4));
        ParallelLink.For(chunks, bytes, c =>
        {
            int from = (int)((long)order.Length * c / chunks), to = (int)((long)order.Length * (c + 1) / chunks);
            MappedFile? file = null;
            int runStart = 0, runEnd = 0;
            void Flush()
            {
                if (file is not null && runEnd > runStart) MappedFile.Release(file.Memory[runStart..runEnd]);
                runStart = runEnd;
            }
            for (int k = from; k < to; k++)
            {
                var (block, segment, offset) = work[order[k].Index];
                block.Content.Span.CopyTo(alloc.WorkingMemory(segment).Slice((int)offset, (int)block.Size));
                if (!MemoryMarshal.TryGetMemoryManager<byte, MappedFile>(block.Content, out var f, out int start, out int length)) continue;
                if (!ReferenceEquals(f, file)) { Flush(); file = f; runStart = runEnd = start; }
                runEnd = Math.Max(runEnd, start + length);
                if (runEnd - runStart >= ReleaseRun) Flush();
            }
            Flush();
        });
    }

    const int ReleaseRun = 1 << 20;

    static void Count(LinkStats stats, LinkGraph graph, SegmentLayout layout)
    {
        stats.Blocks += layout.ContentBlocks.Count;
        foreach (var (b, _, _) in layout.ContentBlocks) stats.Edges += b.Edges.Count;
        stats.Externals += graph.ExternalSymbols.Count;
        foreach (var r in layout.Requests) stats.Bytes += r.ContentSize;
    }

    /// <summary>Times the phases of one link into its <see cref="LinkStats"/>, one line per phase.</summary>
    readonly struct PhaseClock(LinkStats? stats)
    {
        readonly Stopwatch? _sw = stats is null ? null : Stopwatch.StartNew();

        public void Lap(Action<LinkStats, double> add)
        {
            if (_sw is null) return;
            add(stats!, _sw.Elapsed.TotalMilliseconds);
            _sw.Restart();
        }
    }

    /// <summary>Resolves every external. Thread-locals that neither this JITDylib's earlier links (whose
    /// offsets the resolver gives) nor anything else defines are looked for in the executor's shared
    /// libraries, whose blocks then join static TLS: returns the module that holds them there.</summary>
    static TlsModule? ResolveExternals(LinkGraph graph, ExternalResolver resolve, ITlsModuleHost? tls)
    {
        if (graph.ExternalSymbols.Count == 0) return null;
        var addrs = resolve(graph.ExternalSymbols);
        List<Symbol>? missing = null;
        List<int>? libraryThreadLocals = null;
        for (int i = 0; i < addrs.Length; i++)
        {
            var s = graph.ExternalSymbols[i];
            if (addrs[i] is { } a) s.Offset = a.Value;
            else if (s.IsThreadLocal && tls is not null) (libraryThreadLocals ??= new()).Add(i);
            else if (s.Linkage == Linkage.Weak) s.Offset = 0;
            else (missing ??= new()).Add(s);
        }
        TlsModule? imported = null;
        if (libraryThreadLocals is not null)
        {
            var imports = tls!.ImportThreadLocals(libraryThreadLocals.Select(i => graph.ExternalSymbols[i].Name!).ToList());
            imported = imports.Module;
            for (int j = 0; j < libraryThreadLocals.Count; j++)
            {
                var s = graph.ExternalSymbols[libraryThreadLocals[j]];
                if (imports.ThreadPointerOffsets[j] is { } tp) s.Offset = (ulong)tp;
                else if (s.Linkage == Linkage.Weak) s.Offset = 0;
                else (missing ??= new()).Add(s);
            }
        }
        if (missing is not null)
        {
            if (imported is { } m) tls!.ReleaseTlsModule(m);
            var first = missing[0];
            string more = missing.Count > 1 ? $" (and {missing.Count - 1} more: {string.Join(", ", missing.Skip(1).Take(5).Select(m => m.Name))}{(missing.Count > 6 ? ", ..." : "")})" : "";
            if (first.IsThreadLocal)
                throw new LinkError($"thread-local symbol '{first.Name}', referenced by {first.Origin}, is not defined by JIT'd code or by any loaded shared library{more}");
            throw new LinkError($"undefined symbol '{first.Name}', referenced by {first.Origin}{more}");
        }
        return imported;
    }
}
