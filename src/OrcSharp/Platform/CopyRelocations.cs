using OrcSharp.Executor;
using OrcSharp.JitLink;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Platform;

/// <summary>
/// Copy relocations: library data that JIT'd code reaches with 32-bit references (code built without
/// -fPIC, or PIE code compiled assuming copy relocations, as gcc does) gets a copy inside the link when
/// the library is out of reach, and the executor points the libraries' GOT entries at that copy at
/// finalization (undone at deallocation), exactly as a native executable's copy relocations do.
/// </summary>
public sealed class CopyRelocations : ILinkPlugin
{
    readonly IExecutorControl _executor;
    readonly ILinkBackend _backend;
    readonly List<(Symbol External, Symbol Copy)> _copies = new();

    public CopyRelocations(IExecutorControl executor, ILinkBackend backend) { _executor = executor; _backend = backend; }

    public bool PostAllocation(LinkGraph graph)
    {
        var candidates = new List<Symbol>();
        var seen = new HashSet<Symbol>(ReferenceEqualityComparer.Instance);
        foreach (var block in graph.Blocks)
            foreach (var e in block.Edges)
                if (e.Target.Kind == SymbolKind.External && e.Target.Offset != 0 && _backend.IsNarrowReference(e.Kind) &&
                    !seen.Contains(e.Target) && _backend.IsOutOfRange(block, e))
                {
                    seen.Add(e.Target);
                    candidates.Add(e.Target);
                }
        if (candidates.Count == 0) return false;
        var info = _executor.DescribeSymbols(candidates.Select(c => new ExecutorAddr(c.Offset)).ToList());
        var copyOf = new Dictionary<Symbol, Symbol>(ReferenceEqualityComparer.Instance);
        // A canonical stub's own slot keeps the function's real address; every other reference (calls,
        // GOT entries, 32-bit and 64-bit pointers) means the stub, so function-pointer equality holds.
        var stubSlots = new HashSet<Block>(ReferenceEqualityComparer.Instance);
        Section? section = null;
        for (int i = 0; i < candidates.Count; i++)
        {
            // Not known as data (a function, or an indirect function whose resolved address names no
            // symbol): its address in this link is a stub's, as a non-PIE executable's PLT entry.
            if (info[i] is not { IsData: true })
            {
                var slot = new GlobalOffsetTable(graph, _backend.PointerEdgeKind).Entry(candidates[i]);
                stubSlots.Add(slot.Block!);
                copyOf[candidates[i]] = _backend.CreateStub(graph, slot, candidates[i].Name);
                continue;
            }
            if (info[i] is not { IsData: true, Size: > 0 } d) continue;
            section ??= graph.GetOrCreateSection("$__COPY", MemProt.Read | MemProt.Write);
            ulong align = Math.Min(64UL, candidates[i].Offset & (~candidates[i].Offset + 1));
            var block = new Block(section, default, d.Size, align, true, "<linker>", "copy of " + candidates[i].Name);
            section.Blocks.Add(block);
            var copy = Symbol.Defined(candidates[i].Name, block, 0, d.Size, Linkage.Strong, SymbolScope.Local, false);
            copyOf[candidates[i]] = copy;
            _copies.Add((candidates[i], copy));
        }
        if (copyOf.Count == 0) return false;
        foreach (var block in graph.Blocks)
        {
            if (stubSlots.Contains(block)) continue;
            var edges = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(block.Edges);
            for (int i = 0; i < edges.Length; i++)
                if (copyOf.TryGetValue(edges[i].Target, out var c)) edges[i].Target = c;
        }
        return true;
    }

    public void AddFinalizeActions(LinkGraph graph, List<AllocActionCallPair> actions)
    {
        if (_copies.Count == 0) return;
        var arg = CopyRelocationRuntime.EncodeArgument(_copies.Select(c => (c.External.Name!, new ExecutorAddr(c.External.Offset), c.Copy.Address, c.Copy.Size)));
        var boot = _executor.BootstrapSymbols;
        if (!boot.ContainsKey(BootstrapNames.CopyRelocationApply))
            throw new LinkError($"{_copies[0].External.Name}: a copy relocation needs the executor service {BootstrapNames.CopyRelocationApply}, which this executor (LLVM's standard services only) does not provide; build with -fPIC");
        actions.Add(new AllocActionCallPair(
            new WrapperCall(boot[BootstrapNames.CopyRelocationApply], arg),
            new WrapperCall(boot[BootstrapNames.CopyRelocationUndo], arg)));
    }
}
