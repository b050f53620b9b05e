using System.Buffers.Binary;
using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.AArch64;

/// <summary>
/// The AArch64 GOT/stub pass: GOT-using edges get one GOT entry per target; branches to symbols defined
/// outside the graph get a stub (adrp x16, GOT; ldr x16, [x16, lo12]; br x16) that fixup bypasses when
/// the real target is within the +-128 MiB of a direct branch.
/// </summary>
sealed class AArch64GotStubBuilder
{
    const string StubSourceSection = "stub";
    static readonly byte[] StubTemplate = Instructions(0x90000010, 0xf9400210, 0xd61f0200);

    readonly LinkGraph _graph;
    readonly GlobalOffsetTable _got;
    readonly Dictionary<Symbol, Symbol> _stubs = new(ReferenceEqualityComparer.Instance);

    readonly LinkOptions _options;

    public AArch64GotStubBuilder(LinkGraph graph, LinkOptions options)
    {
        _graph = graph;
        _options = options;
        _got = new GlobalOffsetTable(graph, (ushort)AArch64Edge.Pointer64);
    }

    internal static byte[] Instructions(params uint[] words)
    {
        var b = new byte[words.Length * 4];
        for (int i = 0; i < words.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i * 4), words[i]);
        return b;
    }

    public BackendPassResult Run()
    {
        bool needsGotBase = false;
        foreach (var block in _graph.Blocks.ToList())
        {
            var edges = CollectionsMarshal.AsSpan(block.Edges);
            for (int i = 0; i < edges.Length; i++)
            {
                ref var e = ref edges[i];
                switch ((AArch64Edge)e.Kind)
                {
                    case AArch64Edge.Branch26 when _options.BranchNeedsStub(e.Target):
                        e.Target = Stub(e.Target); break;
                    case AArch64Edge.RequestGotPage21:
                        e.Target = _got.Entry(e.Target); e.Kind = (ushort)AArch64Edge.Page21; break;
                    case AArch64Edge.RequestGotLo12:
                        e.Target = _got.Entry(e.Target); e.Kind = (ushort)AArch64Edge.PageOffset12Ldst64; break;
                    case AArch64Edge.RequestGotPageLo15:
                        e.Target = _got.Entry(e.Target); e.Kind = (ushort)AArch64Edge.GotPageOffset15; needsGotBase = true; break;
                }
            }
        }
        if (needsGotBase) GlobalOffsetTable.EnsureBase(_graph);
        return new BackendPassResult(false);
    }

    Symbol Stub(Symbol target)
    {
        if (_stubs.TryGetValue(target, out var stub)) return stub;
        stub = AddStub(_graph, _got.Entry(target), target.Name);
        _stubs.Add(target, stub);
        return stub;
    }

    /// <summary>A stub that jumps through <paramref name="slot"/>.</summary>
    internal static Symbol AddStub(LinkGraph graph, Symbol slot, string? name)
    {
        var section = graph.GetOrCreateSection(GlobalOffsetTable.StubSectionName, MemProt.Read | MemProt.Exec);
        var block = new Block(section, StubTemplate, (ulong)StubTemplate.Length, 4, false, "<linker>", StubSourceSection, 2);
        block.Edges.Add(new Edge((ushort)AArch64Edge.Page21, 0, slot, 0));
        block.Edges.Add(new Edge((ushort)AArch64Edge.PageOffset12Ldst64, 4, slot, 0));
        section.Blocks.Add(block);
        return Symbol.Defined(name, block, 0, block.Size, Linkage.Strong, SymbolScope.Local, true);
    }

    internal static bool IsStub(Symbol s) => s.Block is { SourceSection: StubSourceSection, SourceFile: "<linker>" };

    /// <summary>The stub's first edge leads to its GOT entry, whose edge leads to the real target (0 when
    /// the executor fills the slot: an indirect function's).</summary>
    internal static ulong StubFinalTarget(Symbol stub) =>
        stub.Block!.Edges[0].Target.Block is { Edges.Count: > 0 } slot ? slot.Edges[0].Target.Address.Value : 0;
}
