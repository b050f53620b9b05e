using System.Buffers.Binary;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.Elf;

/// <summary>
/// Removes .eh_frame FDEs whose function was discarded (its COMDAT group was kept from another object),
/// as a native linker does. Records are length-prefixed; an FDE's second word is the distance back to
/// its CIE, so kept FDEs get that distance recomputed after earlier records move.
/// </summary>
public static class EhFramePruner
{
    /// <summary>Record boundaries: (start, end, isCie). Throws on malformed lengths.</summary>
    public static List<(int Start, int End, bool IsCie)> Records(ReadOnlySpan<byte> data, string where)
    {
        var list = new List<(int, int, bool)>();
        int pos = 0;
        while (pos + 4 <= data.Length)
        {
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(data[pos..]);
            if (len == 0) { list.Add((pos, pos + 4, false)); pos += 4; continue; } // terminator
            if (len == 0xffffffff) throw new LinkError($"{where}: 64-bit .eh_frame records are not supported");
            if (len > (uint)(data.Length - pos - 4) || len < 4) throw new LinkError($"{where}: malformed .eh_frame record at offset 0x{pos:x}");
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + 4)..]);
            list.Add((pos, pos + 4 + (int)len, id == 0));
            pos += 4 + (int)len;
        }
        return list;
    }

    /// <summary>Builds the pruned section and a map from old offsets (of kept records) to new ones.</summary>
    public static (byte[] Content, Func<uint, int> Map) Prune(ReadOnlySpan<byte> data, List<(int Start, int End, bool IsCie)> records, bool[] dead)
    {
        var newStart = new int[records.Count];
        var output = new List<byte>(data.Length);
        for (int i = 0; i < records.Count; i++)
        {
            var (s, e, _) = records[i];
            newStart[i] = dead[i] ? -1 : output.Count;
            if (!dead[i]) for (int k = s; k < e; k++) output.Add(data[k]);
        }
        var content = output.ToArray();
        int Find(int oldOffset)
        {
            int lo = 0, hi = records.Count - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) / 2;
                if (oldOffset < records[mid].Start) hi = mid - 1;
                else if (oldOffset >= records[mid].End) lo = mid + 1;
                else return mid;
            }
            return -1;
        }
        for (int i = 0; i < records.Count; i++)
        {
            var (s, e, isCie) = records[i];
            if (dead[i] || isCie || e - s < 8) continue;
            uint back = BinaryPrimitives.ReadUInt32LittleEndian(data[(s + 4)..]);
            int cie = Find(s + 4 - (int)back);
            if (cie < 0 || dead[cie]) throw new LinkError("malformed .eh_frame: FDE without its CIE");
            BinaryPrimitives.WriteUInt32LittleEndian(content.AsSpan(newStart[i] + 4), (uint)(newStart[i] + 4 - newStart[cie]));
        }
        return (content, old =>
        {
            int r = Find((int)old);
            return r < 0 || dead[r] ? -1 : newStart[r] + ((int)old - records[r].Start);
        });
    }
}
