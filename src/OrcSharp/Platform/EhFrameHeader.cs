using System.Buffers.Binary;
using System.Runtime.InteropServices;
using OrcSharp.JitLink;

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
    const int HeaderSize = 16;

    [StructLayout(LayoutKind.Sequential)]
    struct Entry : IComparable<Entry>
    {
        public ulong Location, Fde;
        public readonly int CompareTo(Entry other) => Location.CompareTo(other.Location);
    }

    /// <summary>The header for the link's .eh_frame, or null when it has none.</summary>
    public static byte[]? Build(LinkGraph graph)
    {
        if (graph.FindSection(".eh_frame") is not { Blocks.Count: > 0 } section) return null;
        int count = 0;
        foreach (var block in section.Blocks) count += Visit(block, default);
        var hdr = new byte[HeaderSize + 16 * count];
        var entries = MemoryMarshal.Cast<byte, Entry>(hdr.AsSpan(HeaderSize));
        int filled = 0;
        foreach (var block in section.Blocks) filled += Visit(block, entries[filled..]);
        entries.Sort();
        hdr[0] = 1; // version
        hdr[1] = DwEhPeUdata8; // eh_frame_ptr
        hdr[2] = DwEhPeUdata4; // fde_count
        hdr[3] = DwEhPeUdata8; // table entries
        BinaryPrimitives.WriteUInt64LittleEndian(hdr.AsSpan(4), section.Blocks[0].Address.Value);
        BinaryPrimitives.WriteUInt32LittleEndian(hdr.AsSpan(12), (uint)count);
        return hdr;
    }

    /// <summary>Counts the block's FDEs that have a pc_begin edge, and writes their entries when
    /// <paramref name="output"/> is not empty. The block was validated when it was read: records are
    /// length-prefixed, an FDE's second word (its CIE pointer) is not 0, and edges come in offset order
    /// as the assembler emits relocations (otherwise they are searched in a sorted copy).</summary>
    static int Visit(Block block, Span<Entry> output)
    {
        var edges = CollectionsMarshal.AsSpan(block.Edges);
        if (edges.IsEmpty) return 0;
        Edge[]? sorted = null;
        for (int i = 1; i < edges.Length && sorted is null; i++)
            if (edges[i].Offset < edges[i - 1].Offset) sorted = edges.ToArray();
        if (sorted is not null) { Array.Sort(sorted, (a, b) => a.Offset.CompareTo(b.Offset)); edges = sorted; }

        var data = block.Content.Span;
        int found = 0, e = 0;
        for (int pos = 0; pos + 8 <= data.Length;)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(data[pos..]);
            if (length == 0 || length > (uint)(data.Length - pos - 4)) break; // terminator
            bool isFde = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + 4)..]) != 0;
            uint pcBegin = (uint)pos + 8;
            while (e < edges.Length && edges[e].Offset < pcBegin) e++;
            if (isFde && length >= 12 && e < edges.Length && edges[e].Offset == pcBegin)
            {
                ulong location = edges[e].Target.Address.Value + (ulong)edges[e].Addend;
                if (location != 0)
                {
                    if (!output.IsEmpty) output[found] = new Entry { Location = location, Fde = block.Address.Value + (ulong)pos };
                    found++;
                }
            }
            pos += 4 + (int)length;
        }
        return found;
    }
}
