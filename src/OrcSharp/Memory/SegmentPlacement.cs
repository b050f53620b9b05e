namespace OrcSharp.Memory;

/// <summary>Where the segments of one allocation go relative to its start: each at a page boundary (so
/// each can get its own protection) and at its own alignment, one after the other.</summary>
public static class SegmentPlacement
{
    /// <summary>Segment offsets, the allocation's page-rounded size and its alignment.</summary>
    public static (ulong[] Offsets, ulong Total, ulong Alignment) Lay(IReadOnlyList<SegmentRequest> segments, uint pageSize)
    {
        var offsets = new ulong[segments.Count];
        ulong total = 0, align = pageSize;
        for (int i = 0; i < offsets.Length; i++)
        {
            var seg = segments[i];
            ulong a = Math.Max(pageSize, seg.Alignment);
            align = Math.Max(align, a);
            total = (total + a - 1) & ~(a - 1);
            offsets[i] = total;
            total += PageAlign(seg.Size, pageSize);
        }
        return (offsets, Math.Max(total, pageSize), align);
    }

    public static ulong PageAlign(ulong v, uint pageSize) => (v + pageSize - 1) & ~((ulong)pageSize - 1);
}
