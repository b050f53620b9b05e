using System.Runtime.InteropServices;

namespace OrcSharp.JitLink.AArch64;

/// <summary>
/// Range-extension veneers: once addresses are assigned, a direct branch (CALL26/JUMP26) whose target is
/// beyond +-128 MiB is redirected to a veneer placed right after the calling block, which loads the
/// target's absolute address from its own literal and jumps there (ldr x16, #8; br x16; .quad target).
/// Layout then runs again. One veneer per target and section.
/// </summary>
static class AArch64Veneers
{
    public const string SourceSection = "veneer";
    static readonly byte[] Template = AArch64GotStubBuilder.Instructions(0x58000050, 0xd61f0200, 0, 0);

    public static bool Add(LinkGraph graph)
    {
        bool added = false;
        var veneers = new Dictionary<(Section, Symbol), Symbol>();
        foreach (var section in graph.Sections)
        {
            if (section.IsThreadLocal) continue;
            for (int b = 0; b < section.Blocks.Count; b++)
            {
                var block = section.Blocks[b];
                var edges = CollectionsMarshal.AsSpan(block.Edges);
                for (int i = 0; i < edges.Length; i++)
                {
                    ref var e = ref edges[i];
                    if ((AArch64Edge)e.Kind != AArch64Edge.Branch26 || e.Target.Kind != SymbolKind.Defined) continue;
                    if (AArch64GotStubBuilder.IsStub(e.Target) || e.Target.Block!.SourceSection == SourceSection) continue;
                    ulong p = block.Address.Value + e.Offset;
                    if (AArch64Backend.InBranchRange(e.Target.Address.Value + (ulong)e.Addend - p, 26)) continue;
                    if (!veneers.TryGetValue((section, e.Target), out var veneer))
                    {
                        var vb = new Block(section, Template, (ulong)Template.Length, 8, false, "<linker>", SourceSection, 1);
                        vb.Edges.Add(new Edge((ushort)AArch64Edge.Pointer64, 8, e.Target, e.Addend));
                        section.Blocks.Insert(b + 1, vb);
                        veneer = Symbol.Defined(null, vb, 0, vb.Size, Linkage.Strong, SymbolScope.Local, true);
                        veneers.Add((section, e.Target), veneer);
                    }
                    e = new Edge(e.Kind, e.Offset, veneer, 0);
                    added = true;
                }
            }
        }
        return added;
    }
}
