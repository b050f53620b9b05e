using System.Buffers.Binary;
using System.Text;

namespace OrcSharp.Fuzz;

/// <summary>How a field is stored: little-endian integers, big-endian (archive symbol index), or ASCII
/// decimal (archive member headers); Text is a name in a string table.</summary>
public enum FieldKind : byte { LittleEndian, BigEndian, Decimal, Text }

/// <summary>A field of an input that mutations aim at: where, how wide, and what it means (for reports).</summary>
public readonly record struct Field(int Offset, int Width, FieldKind Kind, string What);

/// <summary>
/// The fields of a seed worth aiming at: the ELF header, every section header field, symbol and
/// relocation entries, section group words, .eh_frame record headers; for archives, every member
/// header field, the symbol index and the members' own ELF fields. Found by a small lenient parser of
/// its own (the seeds are well formed; the reader under test is not used to find its own targets).
/// </summary>
public static class FieldMap
{
    public static List<Field> For(byte[] input)
    {
        var fields = new List<Field>();
        if (input.AsSpan().StartsWith("!<arch>\n"u8) || input.AsSpan().StartsWith("!<thin>\n"u8)) Archive(input, fields);
        else Elf(input, 0, input.Length, fields);
        return fields;
    }

    /// <summary>Fields of a stream of SimpleRemote messages: each header's four words (size, opcode,
    /// sequence number, tag), and every small 64-bit value in a payload (counts and lengths of SPS
    /// sequences and strings look like that).</summary>
    public static List<Field> ForMessages(byte[] stream)
    {
        var fields = new List<Field>();
        int pos = 0;
        while (pos + 32 <= stream.Length)
        {
            ulong size = BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(pos));
            fields.Add(new(pos, 8, FieldKind.LittleEndian, "message size"));
            fields.Add(new(pos + 8, 8, FieldKind.LittleEndian, "opcode"));
            fields.Add(new(pos + 16, 8, FieldKind.LittleEndian, "sequence number"));
            fields.Add(new(pos + 24, 8, FieldKind.LittleEndian, "tag"));
            if (size < 32 || size > (ulong)(stream.Length - pos)) break;
            for (int p = pos + 32; p + 8 <= pos + (int)size; p++)
                if (BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(p)) is > 0 and < 0x10000)
                    fields.Add(new(p, 8, FieldKind.LittleEndian, "SPS count or length"));
            pos += (int)size;
        }
        return fields;
    }

    static void Archive(byte[] a, List<Field> fields)
    {
        int pos = 8;
        while (pos + 60 <= a.Length)
        {
            fields.Add(new(pos, 16, FieldKind.Text, "ar_name"));
            fields.Add(new(pos + 16, 12, FieldKind.Decimal, "ar_date"));
            fields.Add(new(pos + 28, 6, FieldKind.Decimal, "ar_uid"));
            fields.Add(new(pos + 40, 8, FieldKind.Decimal, "ar_mode"));
            fields.Add(new(pos + 48, 10, FieldKind.Decimal, "ar_size"));
            fields.Add(new(pos + 58, 2, FieldKind.Text, "ar_fmag"));
            string name = Encoding.ASCII.GetString(a, pos, 16).TrimEnd();
            if (!long.TryParse(Encoding.ASCII.GetString(a, pos + 48, 10).Trim(), out long size) || size < 0 || size > a.Length - pos - 60) return;
            int data = pos + 60;
            if (name == "/" && size >= 4)
            {
                uint count = BinaryPrimitives.ReadUInt32BigEndian(a.AsSpan(data));
                fields.Add(new(data, 4, FieldKind.BigEndian, "symbol index count"));
                for (int i = 0; i < count && 4 + 4 * (i + 1) <= size; i++) fields.Add(new(data + 4 + 4 * i, 4, FieldKind.BigEndian, "symbol index offset"));
            }
            else if (name == "//") fields.Add(new(data, (int)Math.Min(size, 64), FieldKind.Text, "long name table"));
            else if (a.AsSpan(data).StartsWith("\u007fELF"u8)) Elf(a, data, (int)size, fields);
            pos = data + (int)size;
            pos += pos & 1;
        }
    }

    static void Elf(byte[] b, int at, int length, List<Field> fields)
    {
        var s = b.AsSpan(at, length);
        if (s.Length < 64 || !s.StartsWith("\u007fELF"u8)) return;
        void F(int off, int width, string what) { if (off >= 0 && off + width <= length) fields.Add(new(at + off, width, FieldKind.LittleEndian, what)); }
        F(4, 1, "EI_CLASS"); F(5, 1, "EI_DATA"); F(16, 2, "e_type"); F(18, 2, "e_machine"); F(20, 4, "e_version");
        F(0x28, 8, "e_shoff"); F(0x30, 4, "e_flags"); F(0x34, 2, "e_ehsize"); F(0x3a, 2, "e_shentsize");
        F(0x3c, 2, "e_shnum"); F(0x3e, 2, "e_shstrndx");
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(s[0x28..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(s[0x3c..]);
        if (shoff == 0 || shoff > (ulong)length || (ulong)shnum * 64 > (ulong)length - shoff) return;
        int sh(int i) => (int)shoff + 64 * i;
        ulong U64(int off) => off + 8 <= length ? BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at + off)) : 0;
        uint U32(int off) => off + 4 <= length ? BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at + off)) : 0;
        for (int i = 0; i < shnum; i++)
        {
            int h = sh(i);
            F(h, 4, "sh_name"); F(h + 4, 4, "sh_type"); F(h + 8, 8, "sh_flags"); F(h + 24, 8, "sh_offset"); F(h + 32, 8, "sh_size");
            F(h + 40, 4, "sh_link"); F(h + 44, 4, "sh_info"); F(h + 48, 8, "sh_addralign"); F(h + 56, 8, "sh_entsize");
            uint type = U32(h + 4);
            ulong off = U64(h + 24), size = U64(h + 32);
            if (type == 8 || off > (ulong)length || size > (ulong)length - off) continue;
            int o = (int)off, n = (int)size;
            switch (type)
            {
                case 2: // SHT_SYMTAB
                    for (int e = o + 24; e + 24 <= o + n; e += 24)
                    {
                        F(e, 4, "st_name"); F(e + 4, 1, "st_info"); F(e + 5, 1, "st_other"); F(e + 6, 2, "st_shndx");
                        F(e + 8, 8, "st_value"); F(e + 16, 8, "st_size");
                    }
                    break;
                case 4: // SHT_RELA
                    for (int e = o; e + 24 <= o + n; e += 24)
                    {
                        F(e, 8, "r_offset"); F(e + 8, 4, "r_type"); F(e + 12, 4, "r_sym"); F(e + 16, 8, "r_addend");
                    }
                    break;
                case 17: // SHT_GROUP
                    for (int e = o; e + 4 <= o + n; e += 4) F(e, 4, e == o ? "group flags" : "group member");
                    break;
                case 3: // SHT_STRTAB: names, for control characters and lost terminators
                    if (n > 0) fields.Add(new(at + o, Math.Min(n, 256), FieldKind.Text, "string table"));
                    break;
                case 1 or 0x70000001 when IsEhFrame(b, at, s, i, (int)shoff):
                    for (int e = o; e + 8 <= o + n;)
                    {
                        uint len = U32(e);
                        F(e, 4, "eh_frame length"); F(e + 4, 4, "eh_frame CIE id/pointer");
                        if (U32(e + 4) == 0) fields.Add(new(at + e + 8, Math.Min(12, o + n - e - 8), FieldKind.Text, "CIE version and augmentation"));
                        else F(e + 8, 4, "FDE pc_begin");
                        if (len == 0 || len > (uint)n) break;
                        e += 4 + (int)len;
                    }
                    break;
            }
        }
    }

    static bool IsEhFrame(byte[] b, int at, ReadOnlySpan<byte> s, int section, int shoff)
    {
        int shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(s[0x3e..]);
        if (shoff + 64 * (shstrndx + 1) > s.Length || shoff + 64 * (section + 1) > s.Length) return false;
        ulong strOff = BinaryPrimitives.ReadUInt64LittleEndian(s[(shoff + 64 * shstrndx + 24)..]);
        uint name = BinaryPrimitives.ReadUInt32LittleEndian(s[(shoff + 64 * section)..]);
        ulong p = strOff + name;
        return p + 10 <= (ulong)s.Length && s.Slice((int)p, 10).SequenceEqual(".eh_frame\0"u8);
    }
}
