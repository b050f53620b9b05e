using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.X86_64;

/// <summary>
/// The x86-64 GOT/stub pass. GOT-using edges get one GOT entry per target; calls to symbols defined
/// outside the graph get a stub (jmp *GOT(%rip)) that fixup bypasses when the target is in reach.
/// 32-bit absolute references ask for memory below 2 GiB; what they reach outside the link gets a copy
/// (data) or a canonical stub (functions) after allocation (Platform/CopyRelocations), where the
/// executor says which is which.
/// </summary>
sealed class X86_64GotStubBuilder
{
    static readonly byte[] StubTemplate = { 0xff, 0x25, 0, 0, 0, 0 };

    readonly LinkGraph _graph;
    readonly GlobalOffsetTable _got;
    readonly Dictionary<Symbol, Symbol> _stubs = new(ReferenceEqualityComparer.Instance);

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
        foreach (var block in _graph.Blocks.ToList())
        {
            var edges = CollectionsMarshal.AsSpan(block.Edges);
            for (int i = 0; i < edges.Length; i++)
            {
                ref var e = ref edges[i];
                switch ((X86Edge)e.Kind)
                {
                    case X86Edge.Pointer32 or X86Edge.Pointer32Signed or X86Edge.Pointer16 or X86Edge.Pointer8:
                        // An external whose address fits the field as it is (an absolute definition) is
                        // used directly; a 32-bit one that does not gets a copy or a canonical stub in low
                        // memory. A weak reference that resolved to nothing stays 0, as in a native link.
                        low32 |= e.Target.Kind == SymbolKind.Defined ||
                                 (e.Target.Kind == SymbolKind.External && e.Target.Offset != 0 &&
                                  (X86Edge)e.Kind is (X86Edge.Pointer32 or X86Edge.Pointer32Signed) && X86_64Backend.Instance.IsOutOfRange(block, e));
                        break;
                    case X86Edge.BranchPCRel32:
                        if (_options.BranchNeedsStub(e.Target))
                        {
                            e.Target = Stub(e.Target);
                            e.Kind = (ushort)X86Edge.BranchToStubBypassable;
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
        stub = AddStub(_graph, GotEntry(target), target.Name);
        _stubs.Add(target, stub);
        return stub;
    }

    /// <summary>A stub that jumps through <paramref name="slot"/> (jmp *slot(%rip)).</summary>
    internal static Symbol AddStub(LinkGraph graph, Symbol slot, string? name)
    {
        var section = graph.GetOrCreateSection(X86_64Backend.StubSectionName, MemProt.Read | MemProt.Exec);
        var block = new Block(section, StubTemplate, 6, 8, false, "<linker>", "stub", 1);
        block.Edges.Add(new Edge((ushort)X86Edge.Delta32, 2, slot, -4));
        section.Blocks.Add(block);
        return Symbol.Defined(name, block, 0, 6, Linkage.Strong, SymbolScope.Local, true);
    }
}
