using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.X86_64;

/// <summary>
/// The x86-64 GOT/stub pass. GOT-using edges get one GOT entry per target; calls to symbols defined
/// outside the graph get a stub (jmp *GOT(%rip)) that fixup bypasses when the target is in reach.
/// External functions whose address is taken by 32-bit absolute code get a canonical stub, which then
/// stands for the function everywhere in the graph so function-pointer equality holds (a native
/// non-PIE executable does the same with its PLT).
/// </summary>
sealed class X86_64GotStubBuilder
{
    static readonly byte[] StubTemplate = { 0xff, 0x25, 0, 0, 0, 0 };

    readonly LinkGraph _graph;
    readonly GlobalOffsetTable _got;
    readonly Dictionary<Symbol, Symbol> _stubs = new(ReferenceEqualityComparer.Instance);
    Section? _stubSection;

    readonly LinkOptions _options;

    public X86_64GotStubBuilder(LinkGraph graph, LinkOptions options)
    {
        _graph = graph;
        _options = options;
        _got = new GlobalOffsetTable(graph, (ushort)X86Edge.Pointer64);
    }

    public BackendPassResult Run()
    {
        bool low32 = false;
        var canonical = new HashSet<Symbol>(ReferenceEqualityComparer.Instance);
        var blocks = _graph.Blocks.ToList();
        foreach (var block in blocks)
            foreach (ref readonly var e in CollectionsMarshal.AsSpan(block.Edges))
            {
                var k = (X86Edge)e.Kind;
                if (k is not (X86Edge.Pointer32 or X86Edge.Pointer32Signed or X86Edge.Pointer16 or X86Edge.Pointer8)) continue;
                if (e.Target.Kind == SymbolKind.Defined) low32 = true;
                // An external whose address fits the field as it is (an absolute definition) is used
                // directly; one that does not gets a canonical stub in low memory when the field is 32
                // bits wide. A weak reference that resolved to nothing stays 0, as in a native link.
                else if (e.Target.Kind == SymbolKind.External && e.Target.Offset != 0 && k is (X86Edge.Pointer32 or X86Edge.Pointer32Signed) &&
                         X86_64Backend.Instance.IsOutOfRange(block, e))
                {
                    low32 = true;
                    canonical.Add(e.Target);
                }
            }

        foreach (var block in blocks)
        {
            var edges = CollectionsMarshal.AsSpan(block.Edges);
            for (int i = 0; i < edges.Length; i++)
            {
                ref var e = ref edges[i];
                switch ((X86Edge)e.Kind)
                {
                    case X86Edge.BranchPCRel32:
                        if (_options.BranchNeedsStub(e.Target))
                        {
                            bool isCanonical = canonical.Contains(e.Target);
                            e.Target = Stub(e.Target);
                            e.Kind = isCanonical ? (ushort)X86Edge.Delta32 : (ushort)X86Edge.BranchToStubBypassable;
                        }
                        else e.Kind = (ushort)X86Edge.Delta32;
                        break;
                    case X86Edge.RequestGotDelta32:
                        e.Target = GotEntry(e.Target); e.Kind = (ushort)X86Edge.Delta32; break;
                    case X86Edge.RequestGotDelta32Relax:
                        e.Target = GotEntry(e.Target); e.Kind = (ushort)X86Edge.GotDelta32Relaxable; break;
                    case X86Edge.RequestGotDelta32RexRelax:
                        e.Target = GotEntry(e.Target); e.Kind = (ushort)X86Edge.GotDelta32RexRelaxable; break;
                    case X86Edge.RequestGotDelta64:
                        e.Target = GotEntry(e.Target); e.Kind = (ushort)X86Edge.Delta64; break;
                    case X86Edge.RequestGotOffset64:
                        e.Target = GotEntry(e.Target); e.Kind = (ushort)X86Edge.GotOffset64; break;
                    case X86Edge.RequestGotOffset32:
                        e.Target = GotEntry(e.Target); e.Kind = (ushort)X86Edge.GotOffset32; break;
                }
            }
        }

        if (canonical.Count > 0)
        {
            // Every remaining direct reference to a canonicalized function now means its stub. Only the
            // graph's own blocks are visited: the stubs' GOT entries keep pointing at the real function.
            foreach (var block in blocks)
            {
                var edges = CollectionsMarshal.AsSpan(block.Edges);
                for (int i = 0; i < edges.Length; i++)
                    if (edges[i].Target.Kind == SymbolKind.External && canonical.Contains(edges[i].Target))
                        edges[i].Target = Stub(edges[i].Target);
            }
        }

        bool needsGotBase = false;
        foreach (var block in _graph.Blocks)
            foreach (ref readonly var e in CollectionsMarshal.AsSpan(block.Edges))
                if ((X86Edge)e.Kind is X86Edge.Delta64FromGot or X86Edge.GotBaseDelta32 or X86Edge.GotBaseDelta64
                    or X86Edge.GotOffset32 or X86Edge.GotOffset64) needsGotBase = true;
        if (needsGotBase) GlobalOffsetTable.EnsureBase(_graph);
        return new BackendPassResult(low32);
    }

    Symbol GotEntry(Symbol target) => _got.Entry(target);

    Symbol Stub(Symbol target)
    {
        if (_stubs.TryGetValue(target, out var stub)) return stub;
        var got = GotEntry(target);
        _stubSection ??= _graph.GetOrCreateSection(X86_64Backend.StubSectionName, MemProt.Read | MemProt.Exec);
        var block = new Block(_stubSection, StubTemplate, 6, 8, false, "<linker>", "stub", 1);
        block.Edges.Add(new Edge((ushort)X86Edge.Delta32, 2, got, -4));
        _stubSection.Blocks.Add(block);
        stub = Symbol.Defined(target.Name, block, 0, 6, Linkage.Strong, SymbolScope.Local, true);
        _stubs.Add(target, stub);
        return stub;
    }
}
