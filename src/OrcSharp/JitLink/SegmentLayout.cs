using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// Places blocks into segments: one per (protection, lifetime), code first, finalize-lifetime last.
/// Sections stay contiguous (so __start_/__stop_ bracket them); zero-fill sections go at the end of their
/// segment so their pages need no content. Thread-local sections are not placed here (see ThreadLocalImage).
/// </summary>
public sealed class SegmentLayout
{
    public List<SegmentRequest> Requests { get; } = new();
    /// <summary>Blocks with content: (block, segment index, offset in segment).</summary>
    public List<(Block Block, int Segment, ulong Offset)> ContentBlocks { get; } = new();
    readonly List<(Block Block, int Segment, ulong Offset)> _all = new();
    readonly Dictionary<Block, (int, ulong)> _where = new(ReferenceEqualityComparer.Instance);

    static int GroupOrder(AllocGroup g, bool byProtection) =>
        (g.Lifetime == MemLifetime.Finalize ? 8 : 0) +
        (byProtection ? (int)g.Prot : (g.Prot & MemProt.Exec) != 0 ? 0 : (g.Prot & MemProt.Write) == 0 ? 1 : 2);

    /// <param name="protectionOrder">Segments by protection value (LLVM's order: read-only, read-write,
    /// executable) rather than code first.</param>
    public static SegmentLayout Compute(LinkGraph graph, bool protectionOrder = false)
    {
        var layout = new SegmentLayout();
        ulong image = 0;
        // Sections grouped by (protection, lifetime) in order of first appearance, groups then ordered
        // (a stable sort: plain loops, this runs for every link).
        var groups = new List<(int Order, int First, AllocGroup Key, List<Section> Sections)>();
        foreach (var s in graph.Sections)
        {
            if (s.Blocks.Count == 0 || s.IsThreadLocal) continue;
            int k = groups.FindIndex(g => g.Key == s.Group);
            if (k >= 0) groups[k].Sections.Add(s);
            else groups.Add((GroupOrder(s.Group, protectionOrder), groups.Count, s.Group, [s]));
        }
        groups.Sort((a, b) => a.Order != b.Order ? a.Order.CompareTo(b.Order) : a.First.CompareTo(b.First));
        foreach (var group in groups)
        {
            int segment = layout.Requests.Count;
            ulong offset = 0, contentEnd = 0, align = 1;
            // Content sections first, then sections that are all zero-fill.
            group.Sections.Sort((a, b) => AllZeroFill(a) != AllZeroFill(b) ? AllZeroFill(a).CompareTo(AllZeroFill(b)) : a.Ordinal.CompareTo(b.Ordinal));
            foreach (var section in group.Sections)
                foreach (var block in section.Blocks)
                {
                    // Sizes and alignments are bounded by the reader (LinkLimits), so this cannot wrap;
                    // the total is checked before anything is reserved.
                    offset = (offset + block.Alignment - 1) & ~(block.Alignment - 1);
                    align = Math.Max(align, block.Alignment);
                    layout._all.Add((block, segment, offset));
                    layout._where[block] = (segment, offset);
                    if (!block.IsZeroFill)
                    {
                        layout.ContentBlocks.Add((block, segment, offset));
                        contentEnd = offset + block.Size;
                    }
                    offset += block.Size;
                }
            layout.Requests.Add(new SegmentRequest(group.Key, offset, contentEnd, align));
            image += offset;
            // Below the limit, every offset fits the int that spans over working memory take.
            if (image >= LinkLimits.MaxImageBytes)
                throw new LinkError($"{graph.Name}: the link needs {LinkLimits.Describe(LinkLimits.MaxImageBytes)} of memory or more");
        }
        return layout;
    }

    static bool AllZeroFill(Section s)
    {
        foreach (var b in s.Blocks) if (!b.IsZeroFill) return false;
        return true;
    }

    public void AssignAddresses(InFlightAlloc alloc)
    {
        foreach (var (block, segment, offset) in _all) block.Address = alloc.SegmentAddress(segment) + offset;
    }

    public (int Segment, ulong Offset) Where(Block b) => _where[b];
}
