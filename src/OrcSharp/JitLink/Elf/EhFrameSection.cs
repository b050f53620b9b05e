using System.Buffers.Binary;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.Elf;

/// <summary>One record of an .eh_frame section: [Start, End) in the section; for an FDE, the index of its
/// CIE in the record list; a zero-length terminator has neither.</summary>
public readonly record struct EhFrameRecord(int Start, int End, EhFrameRecordKind Kind, int Cie);

public enum EhFrameRecordKind : byte { Cie, Fde, Terminator }

/// <summary>
/// An object's .eh_frame as the system unwinder will read it, validated and pruned. libgcc trusts what it
/// is given (a bad pointer encoding aborts the process, a bad CIE pointer reads wild memory), so every
/// record is checked here the way the unwinder parses it: lengths tile the section, each FDE points back
/// at a CIE of the same section, CIE versions, augmentation strings and pointer encodings are ones libgcc
/// handles, and every encoded field lies inside its record. Pruning drops FDEs of discarded functions and
/// stray terminators and recomputes the CIE distances of the FDEs that move.
/// </summary>
public static class EhFrameSection
{
    /// <summary>The records of <paramref name="data"/>; a <see cref="LinkError"/> naming
    /// <paramref name="where"/> and the offset for anything the unwinder could not read.</summary>
    public static List<EhFrameRecord> Parse(ReadOnlySpan<byte> data, string where)
    {
        var list = new List<EhFrameRecord>();
        var cies = new Dictionary<int, (CieInfo Info, int Index)>();
        int pos = 0;
        while (pos < data.Length)
        {
            if (data.Length - pos < 4) throw Malformed(where, pos, "the section ends inside a record length");
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(data[pos..]);
            if (len == 0) { list.Add(new(pos, pos + 4, EhFrameRecordKind.Terminator, -1)); pos += 4; continue; }
            if (len == 0xffffffff) throw new LinkError($"{where}: 64-bit .eh_frame records are not supported");
            if (len > (uint)(data.Length - pos - 4) || len < 4) throw Malformed(where, pos, $"record length {len} does not fit the section");
            // Keeps every record, and so the section, 4-byte aligned: blocks of .eh_frame are placed
            // back to back and any gap would read as a terminator.
            if (len % 4 != 0) throw Malformed(where, pos, $"record length {len} is not a multiple of 4");
            var record = data.Slice(pos, 4 + (int)len);
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(record[4..]);
            if (id == 0)
            {
                cies[pos] = (ParseCie(record, where, pos), list.Count);
                list.Add(new(pos, pos + record.Length, EhFrameRecordKind.Cie, -1));
            }
            else
            {
                // The CIE pointer is the distance back from this field to the CIE's start.
                long ciePos = (long)pos + 4 - id;
                if (ciePos < 0 || !cies.TryGetValue((int)ciePos, out var cie))
                    throw Malformed(where, pos, "FDE does not point back at a CIE of this section");
                CheckFde(record, cie.Info, where, pos);
                list.Add(new(pos, pos + record.Length, EhFrameRecordKind.Fde, cie.Index));
            }
            pos += record.Length;
        }
        return list;
    }

    /// <summary>
    /// Checks, on the fixed-up bytes of one block placed at <paramref name="address"/>, that every FDE
    /// describes code of this link, reading pc_begin and pc_range exactly as libgcc will (the CIE's
    /// pointer encoding, PC-relative to the field where it says so). Registered unwind tables are
    /// consulted for every address in the process: an FDE whose range strays (a pointer encoding that does
    /// not match its relocation, an addend or pc_range out of its function) would mislead the unwinder
    /// about the host's own code.
    /// </summary>
    public static void CheckCodeRanges(ReadOnlySpan<byte> block, ulong address, Func<ulong, ulong, bool> isLinkCode, string where)
    {
        var records = Parse(block, where);
        var encodings = new Dictionary<int, byte>();
        foreach (var rec in records)
        {
            if (rec.Kind == EhFrameRecordKind.Cie) encodings[rec.Start] = ParseCie(block[rec.Start..rec.End], where, rec.Start).PointerEncoding;
            if (rec.Kind != EhFrameRecordKind.Fde) continue;
            byte enc = encodings[records[rec.Cie].Start];
            var r = new Cursor(block[rec.Start..rec.End], PcBeginOffset, where, rec.Start);
            ulong begin = ReadEncoded(ref r, enc, address + (ulong)rec.Start + PcBeginOffset);
            ulong range = ReadEncoded(ref r, (byte)(enc & 0x0f), 0);
            if (range == 0) continue;
            if (begin + range < begin || !isLinkCode(begin, begin + range))
                throw Malformed(where, rec.Start, $"FDE describes 0x{begin:x}..0x{begin + range:x}, which is not code of this link");
        }
    }

    /// <summary>A pointer-encoded value as libgcc reads it: format, then PC-relative if the encoding says
    /// so (text- and data-relative bases are 0 for registered frames).</summary>
    static ulong ReadEncoded(ref Cursor r, byte enc, ulong fieldAddress)
    {
        int start = r.Position;
        ulong v = (enc & 0x0f) switch
        {
            0x0 or 0x4 or 0xc => r.U(8),
            0x2 => r.U(2),
            0xa => (ulong)(long)(short)r.U(2),
            0x3 => r.U(4),
            0xb => (ulong)(long)(int)r.U(4),
            0x1 => r.Uleb(),
            0x9 => r.SlebValue(),
            _ => throw Malformed(r.Where, r.At, $"pointer encoding 0x{enc:x2} is not supported"),
        };
        return (enc & 0x70) == 0x10 ? v + fieldAddress + (ulong)(start - PcBeginOffset) : v;
    }

    /// <summary>Offset of an FDE's pc_begin field from the record start (after length and CIE pointer).</summary>
    public const int PcBeginOffset = 8;

    readonly record struct CieInfo(byte PointerEncoding, byte LsdaEncoding, bool HasAugmentationData);

    static CieInfo ParseCie(ReadOnlySpan<byte> record, string where, int at)
    {
        var r = new Cursor(record, 8, where, at);
        byte version = r.Byte();
        if (version is not (1 or 3 or 4)) throw Malformed(where, at, $"CIE version {version} is not supported");
        var aug = r.CString();
        if (version == 4)
        {
            if (r.Byte() != 8 || r.Byte() != 0) throw Malformed(where, at, "CIE address or segment size is not 8 and 0");
        }
        r.Uleb(); // code alignment
        r.Sleb(); // data alignment
        if (version == 1) r.Byte(); else r.Uleb(); // return address column
        byte pointerEnc = 0, lsdaEnc = 0xff;
        if (aug.Length == 0) return new CieInfo(pointerEnc, lsdaEnc, false);
        if (aug[0] != (byte)'z') throw Malformed(where, at, "CIE augmentation does not start with 'z'");
        ulong augLen = r.Uleb();
        int augEnd = r.Position + (int)Math.Min(augLen, (ulong)record.Length);
        if (augLen > (ulong)(record.Length - r.Position)) throw Malformed(where, at, "CIE augmentation data runs past the record");
        foreach (byte c in aug[1..])
        {
            switch ((char)c)
            {
                case 'R': pointerEnc = CheckEncoding(r.Byte(), where, at, allowOmit: false); break;
                case 'L': lsdaEnc = CheckEncoding(r.Byte(), where, at, allowOmit: true); break;
                case 'P':
                {
                    byte enc = CheckEncoding(r.Byte(), where, at, allowOmit: false);
                    r.Skip(EncodedSize(enc, ref r));
                    break;
                }
                case 'S' or 'B' or 'G': break; // signal frame, AArch64 B key, memory tagging: no data
                default: throw Malformed(where, at, $"CIE augmentation '{(char)c}' is not supported");
            }
        }
        if (r.Position > augEnd) throw Malformed(where, at, "CIE augmentation data is longer than its length says");
        return new CieInfo(pointerEnc, lsdaEnc, true);
    }

    static void CheckFde(ReadOnlySpan<byte> record, CieInfo cie, string where, int at)
    {
        var r = new Cursor(record, PcBeginOffset, where, at);
        r.Skip(EncodedSize(cie.PointerEncoding, ref r)); // pc_begin
        r.Skip(EncodedSize((byte)(cie.PointerEncoding & 0x0f), ref r)); // pc_range: same format, no application
        if (!cie.HasAugmentationData) return;
        ulong augLen = r.Uleb();
        if (augLen > (ulong)(record.Length - r.Position)) throw Malformed(where, at, "FDE augmentation data runs past the record");
        if (cie.LsdaEncoding != 0xff)
        {
            var lsda = new Cursor(record[..(r.Position + (int)augLen)], r.Position, where, at);
            lsda.Skip(EncodedSize(cie.LsdaEncoding, ref lsda));
        }
    }

    /// <summary>Encodings libgcc reads without aborting: a value format it knows, applied absolutely,
    /// PC-relative, or relative to the text or data base (0 for registered frames); omitted where allowed.</summary>
    static byte CheckEncoding(byte enc, string where, int at, bool allowOmit)
    {
        if (enc == 0xff && allowOmit) return enc;
        int format = enc & 0x0f, application = enc & 0x70;
        bool formatOk = format is 0x0 or 0x1 or 0x2 or 0x3 or 0x4 or 0x9 or 0xa or 0xb or 0xc;
        bool applicationOk = application is 0x00 or 0x10 or 0x20 or 0x30;
        if (!formatOk || !applicationOk) throw Malformed(where, at, $"pointer encoding 0x{enc:x2} is not supported");
        return enc;
    }

    /// <summary>Bytes an encoded value takes at the cursor (LEB128 values are measured).</summary>
    static int EncodedSize(byte enc, ref Cursor r) => (enc & 0x0f) switch
    {
        0x0 or 0x4 or 0xc => 8,
        0x2 or 0xa => 2,
        0x3 or 0xb => 4,
        0x1 or 0x9 => r.LebLength(),
        _ => throw Malformed(r.Where, r.At, $"pointer encoding 0x{enc:x2} is not supported"),
    };

    static LinkError Malformed(string where, int at, string what) => new($"{where}: malformed .eh_frame record at offset 0x{at:x}: {what}");

    /// <summary>A bounds-checked reader over one record.</summary>
    ref struct Cursor(ReadOnlySpan<byte> record, int position, string where, int at)
    {
        readonly ReadOnlySpan<byte> _data = record;
        public int Position = position;
        public readonly string Where = where;
        public readonly int At = at;

        public byte Byte()
        {
            if (Position >= _data.Length) throw Malformed(Where, At, "a field runs past the end of the record");
            return _data[Position++];
        }

        public void Skip(int n)
        {
            if (n > _data.Length - Position) throw Malformed(Where, At, "a field runs past the end of the record");
            Position += n;
        }

        public ReadOnlySpan<byte> CString()
        {
            int end = _data[Position..].IndexOf((byte)0);
            if (end < 0) throw Malformed(Where, At, "CIE augmentation string is not NUL-terminated");
            var s = _data.Slice(Position, end);
            Position += end + 1;
            return s;
        }

        public int LebLength()
        {
            for (int i = Position; i < _data.Length && i - Position < 10; i++)
                if ((_data[i] & 0x80) == 0) return i - Position + 1;
            throw Malformed(Where, At, "a LEB128 field runs past the end of the record or is too long");
        }

        public ulong Uleb()
        {
            ulong v = 0;
            int n = LebLength();
            for (int i = 0; i < n; i++) v |= (ulong)(_data[Position + i] & 0x7f) << Math.Min(63, 7 * i);
            Position += n;
            return v;
        }

        public void Sleb() => Position += LebLength();

        public long SlebValueSigned()
        {
            long v = 0;
            int n = LebLength(), shift = 0;
            for (int i = 0; i < n; i++, shift += 7) v |= (long)(_data[Position + i] & 0x7f) << Math.Min(63, shift);
            if (shift < 64 && (_data[Position + n - 1] & 0x40) != 0) v |= -1L << shift;
            Position += n;
            return v;
        }

        public ulong SlebValue() => (ulong)SlebValueSigned();

        public ulong U(int bytes)
        {
            if (bytes > _data.Length - Position) throw Malformed(Where, At, "a field runs past the end of the record");
            ulong v = 0;
            for (int i = 0; i < bytes; i++) v |= (ulong)_data[Position + i] << (8 * i);
            Position += bytes;
            return v;
        }
    }

    /// <summary>The section without the <paramref name="dead"/> records, and a map from old offsets (in
    /// kept records) to new ones (-1 inside a dropped record). Kept FDEs get their CIE distance
    /// recomputed; a kept FDE whose CIE was dropped is an error.</summary>
    public static (byte[] Content, Func<ulong, long> Map) Prune(ReadOnlySpan<byte> data, List<EhFrameRecord> records, bool[] dead, string where)
    {
        var newStart = new int[records.Count];
        int size = 0;
        for (int i = 0; i < records.Count; i++)
        {
            newStart[i] = dead[i] ? -1 : size;
            if (!dead[i]) size += records[i].End - records[i].Start;
        }
        var content = new byte[size];
        for (int i = 0; i < records.Count; i++)
        {
            if (dead[i]) continue;
            var (s, e, kind, cie) = records[i];
            data[s..e].CopyTo(content.AsSpan(newStart[i]));
            if (kind != EhFrameRecordKind.Fde) continue;
            if (dead[cie]) throw new LinkError($"{where}: malformed .eh_frame: FDE at offset 0x{s:x} without its CIE");
            BinaryPrimitives.WriteUInt32LittleEndian(content.AsSpan(newStart[i] + 4), (uint)(newStart[i] + 4 - newStart[cie]));
        }
        return (content, old =>
        {
            int r = Find(records, old);
            return r < 0 || dead[r] ? -1 : newStart[r] + (long)(old - (ulong)records[r].Start);
        });
    }

    /// <summary>The index of the record holding <paramref name="offset"/>, or -1.</summary>
    public static int Find(List<EhFrameRecord> records, ulong offset)
    {
        int lo = 0, hi = records.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (offset < (ulong)records[mid].Start) hi = mid - 1;
            else if (offset >= (ulong)records[mid].End) lo = mid + 1;
            else return mid;
        }
        return -1;
    }
}
