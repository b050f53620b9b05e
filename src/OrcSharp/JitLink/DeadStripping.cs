using System.Runtime.InteropServices;
using OrcSharp.JitLink.Elf;
using EhFrame = OrcSharp.JitLink.Elf.EhFrameSection;

namespace OrcSharp.JitLink;

/// <summary>
/// Dead-stripping (JITLink's prune): only blocks that live symbols reach through edges stay in the graph.
/// Live to begin with: every non-local symbol the link defines (what other links and lookups can name)
/// and every block marked <see cref="Block.KeepAlive"/>. An .eh_frame record lives while the function it
/// describes does (JITLink's keep-alive edge from a function to its FDE): the records of stripped
/// functions are cut out of their section and their edges dropped; a section left without records goes.
/// Externals that no live edge names are dropped too, so nothing only dead code used has to resolve.
/// </summary>
public static class DeadStripping
{
    public const string EhFrameSection = ".eh_frame";

    public static void Run(LinkGraph graph)
    {
        var frames = FrameIndex.Build(graph);
        var live = new HashSet<Block>(ReferenceEqualityComparer.Instance);
        var work = new Stack<Block>();
        void Reach(Symbol target)
        {
            if (target.Kind == SymbolKind.Defined && live.Add(target.Block!)) work.Push(target.Block!);
        }

        foreach (var s in graph.DefinedSymbols) Reach(s);
        foreach (var section in graph.Sections)
            foreach (var b in section.Blocks)
                if (b.KeepAlive && live.Add(b)) work.Push(b);
        while (work.Count > 0)
        {
            var block = work.Pop();
            // A frame section that something refers to as a whole is kept whole.
            frames.MarkAllLive(block);
            foreach (ref readonly var e in CollectionsMarshal.AsSpan(block.Edges)) Reach(e.Target);
            foreach (var edge in frames.KeepAlive(block)) Reach(edge.Target);
        }

        foreach (var section in graph.Sections) section.Blocks.RemoveAll(b => !IsKept(b));
        frames.PruneRecords();
        graph.DefinedSymbols.RemoveAll(s => s.Kind == SymbolKind.Defined && !IsKept(s.Block!));
        graph.LocalSymbols.RemoveAll(s => !IsKept(s.Block!));
        var referenced = new HashSet<Symbol>(ReferenceEqualityComparer.Instance);
        foreach (var b in graph.Blocks)
            foreach (ref readonly var e in CollectionsMarshal.AsSpan(b.Edges))
                if (e.Target.Kind == SymbolKind.External) referenced.Add(e.Target);
        graph.ExternalSymbols.RemoveAll(s => !referenced.Contains(s));

        bool IsKept(Block b) => live.Contains(b) || frames.HasLiveRecords(b);
    }

    /// <summary>The records of every .eh_frame block: which function each FDE describes, and the edges
    /// that live with it (its own and its CIE's).</summary>
    sealed class FrameIndex
    {
        sealed class FrameBlock(Block block, List<EhFrameRecord> records)
        {
            public readonly Block Block = block;
            public readonly List<EhFrameRecord> Records = records;
            public readonly bool[] Live = new bool[records.Count];
        }

        readonly Dictionary<Block, FrameBlock> _frames = new(ReferenceEqualityComparer.Instance);
        /// <summary>For each function block, the FDEs that describe it.</summary>
        readonly Dictionary<Block, List<(FrameBlock Frame, int Record)>> _fdesOf = new(ReferenceEqualityComparer.Instance);

        public static FrameIndex Build(LinkGraph graph)
        {
            var index = new FrameIndex();
            if (graph.FindSection(EhFrameSection) is not { } section) return index;
            foreach (var block in section.Blocks)
            {
                // A block a pass added and keeps (the terminator) is an ordinary block.
                if (block.IsZeroFill || block.Size < 4 || block.KeepAlive) continue;
                var data = block.Content.Span;
                var records = EhFrame.Parse(data, $"{block.SourceFile}: section {block.SourceSection}");
                var frame = new FrameBlock(block, records);
                index._frames.Add(block, frame);
                foreach (var e in block.Edges)
                {
                    // The PC-begin field follows the length and the CIE pointer.
                    int r = EhFrame.Find(records, e.Offset);
                    if (r < 0 || records[r].Kind != EhFrameRecordKind.Fde || e.Offset != records[r].Start + EhFrame.PcBeginOffset ||
                        e.Target.Kind != SymbolKind.Defined) continue;
                    if (!index._fdesOf.TryGetValue(e.Target.Block!, out var list)) index._fdesOf[e.Target.Block!] = list = new();
                    list.Add((frame, r));
                }
            }
            return index;
        }

        public void MarkAllLive(Block b)
        {
            if (_frames.TryGetValue(b, out var f)) Array.Fill(f.Live, true);
        }

        public bool HasLiveRecords(Block b) => _frames.TryGetValue(b, out var f) && f.Live.Any(x => x);

        /// <summary>Marks the FDEs of a newly live function (and their CIEs) live; returns the edges whose
        /// targets they keep alive: LSDAs, personality routines.</summary>
        public IEnumerable<Edge> KeepAlive(Block function)
        {
            if (!_fdesOf.TryGetValue(function, out var fdes)) yield break;
            foreach (var (frame, r) in fdes)
            {
                if (frame.Live[r]) continue;
                frame.Live[r] = true;
                int cie = frame.Records[r].Cie;
                bool newCie = cie >= 0 && !frame.Live[cie];
                if (cie >= 0) frame.Live[cie] = true;
                foreach (var e in frame.Block.Edges)
                {
                    int at = EhFrame.Find(frame.Records, e.Offset);
                    if (at == r || (newCie && at == cie)) yield return e;
                }
            }
        }

        /// <summary>Cuts dead records out of the frame blocks still in the graph and moves their edges.</summary>
        public void PruneRecords()
        {
            foreach (var frame in _frames.Values)
            {
                if (!frame.Live.Any(x => x)) continue;
                var dead = new bool[frame.Records.Count];
                bool any = false;
                for (int r = 0; r < dead.Length; r++)
                {
                    // Terminators (a zero length word) stay where they are.
                    dead[r] = !frame.Live[r] && frame.Records[r].Kind != EhFrameRecordKind.Terminator;
                    any |= dead[r];
                }
                if (!any) continue;
                var block = frame.Block;
                var (content, map) = EhFrame.Prune(block.Content.Span, frame.Records, dead, $"{block.SourceFile}: section {block.SourceSection}");
                var kept = new List<Edge>(block.Edges.Count);
                foreach (var e in block.Edges)
                {
                    long moved = map(e.Offset);
                    if (moved >= 0) kept.Add(new Edge(e.Kind, (uint)moved, e.Target, e.Addend));
                }
                block.Content = content;
                block.Size = (ulong)content.Length;
                block.Edges.Clear();
                block.Edges.AddRange(kept);
            }
        }
    }
}
