using System.Buffers.Binary;
using OrcSharp.JitLink;
using OrcSharp.JitLink.Elf;

namespace OrcSharp.Platform;

/// <summary>
/// The .eh_frame_hdr a native linker writes for PT_GNU_EH_FRAME: a pointer to .eh_frame and a table of
/// (initial location, FDE address) sorted by initial location, for unwinders that find FDEs through
/// dl_iterate_phdr (LLVM's libunwind, language runtimes) to binary-search. It lives outside the link (in
/// the image stub), so every value is absolute: DW_EH_PE_udata8, not the data-relative 4-byte form ld uses.
/// An FDE's initial location is where its pc_begin field's edge points (S + A), known once the link has
/// addresses; that needs no decoding of the CIE's pointer encoding.
/// </summary>
public static class EhFrameHeader
{
    const byte DwEhPeUdata4 = 0x03, DwEhPeUdata8 = 0x04;

    /// <summary>The header for the link's .eh_frame, or null when it has none.</summary>
    public static byte[]? Build(LinkGraph graph)
    {
        if (graph.FindSection(".eh_frame") is not { Blocks.Count: > 0 } section) return null;
        var table = new List<(ulong Location, ulong Fde)>();
        foreach (var block in section.Blocks)
        {
            if (block.Edges.Count == 0) continue;
            var pcBegin = new Dictionary<uint, Edge>(block.Edges.Count);
            foreach (var e in block.Edges) pcBegin.TryAdd(e.Offset, e);
            foreach (var (start, end, isCie) in EhFramePruner.Records(block.Content.Span, $"{block}"))
            {
                if (isCie || end - start < 16 || !pcBegin.TryGetValue((uint)start + 8, out var edge)) continue;
                ulong location = edge.Target.Address.Value + (ulong)edge.Addend;
                if (location != 0) table.Add((location, block.Address.Value + (ulong)start));
            }
        }
        table.Sort((a, b) => a.Location.CompareTo(b.Location));
        var hdr = new byte[16 + 16 * table.Count];
        hdr[0] = 1; // version
        hdr[1] = DwEhPeUdata8; // eh_frame_ptr
        hdr[2] = DwEhPeUdata4; // fde_count
        hdr[3] = DwEhPeUdata8; // table entries
        BinaryPrimitives.WriteUInt64LittleEndian(hdr.AsSpan(4), section.Blocks[0].Address.Value);
        BinaryPrimitives.WriteUInt32LittleEndian(hdr.AsSpan(12), (uint)table.Count);
        for (int i = 0; i < table.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(hdr.AsSpan(16 + 16 * i), table[i].Location);
            BinaryPrimitives.WriteUInt64LittleEndian(hdr.AsSpan(24 + 16 * i), table[i].Fde);
        }
        return hdr;
    }
}
