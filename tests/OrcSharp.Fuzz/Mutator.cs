using System.Buffers.Binary;
using System.Text;

namespace OrcSharp.Fuzz;

/// <summary>
/// Deterministic mutations: input number N of a campaign with seed S is always the same bytes, so any
/// failure is reproduced from (S, N) alone. One to four of: bit flips, random bytes, boundary values
/// aimed at a structured field (header, section header, symbol, relocation, group, .eh_frame, archive
/// member header and symbol index), values copied from another field, control characters in names,
/// truncation, and chunk deletion or duplication.
/// </summary>
public sealed class Mutator
{
    readonly IReadOnlyList<byte[]> _seeds;
    readonly List<Field>[] _fields;

    public Mutator(IReadOnlyList<byte[]> seeds, Func<byte[], List<Field>> fieldMap)
    {
        _seeds = seeds;
        _fields = seeds.Select(fieldMap).ToArray();
    }

    /// <summary>Input <paramref name="index"/> of campaign <paramref name="campaign"/>: which seed it
    /// came from, its bytes, and a description of what was changed.</summary>
    public (int Seed, byte[] Bytes, string Recipe) Make(ulong campaign, long index)
    {
        var rng = new Random(unchecked((int)Mix(campaign, (ulong)index)));
        int seed = rng.Next(_seeds.Count);
        var bytes = (byte[])_seeds[seed].Clone();
        var fields = _fields[seed];
        var recipe = new StringBuilder();
        int count = 1 + (rng.Next(8) switch { < 4 => 0, < 6 => 1, < 7 => 2, _ => 3 });
        for (int i = 0; i < count && bytes.Length > 0; i++)
        {
            if (recipe.Length > 0) recipe.Append("; ");
            bytes = MutateOnce(rng, bytes, fields, recipe);
        }
        return (seed, bytes, recipe.ToString());
    }

    static ulong Mix(ulong a, ulong b)
    {
        ulong x = a * 0x9E3779B97F4A7C15UL ^ (b + 0x632BE59BD9B4E019UL);
        x ^= x >> 31; x *= 0xBF58476D1CE4E5B9UL; x ^= x >> 27; x *= 0x94D049BB133111EBUL; x ^= x >> 33;
        return x;
    }

    static byte[] MutateOnce(Random rng, byte[] b, List<Field> fields, StringBuilder recipe)
    {
        int roll = rng.Next(100);
        if (roll < 45 && fields.Count > 0)
        {
            var f = fields[rng.Next(fields.Count)];
            if (f.Offset + f.Width > b.Length) return b;
            SetField(rng, b, f, fields, recipe);
            return b;
        }
        if (roll < 62)
        {
            int flips = 1 + rng.Next(4);
            for (int i = 0; i < flips; i++)
            {
                int at = rng.Next(b.Length), bit = rng.Next(8);
                b[at] ^= (byte)(1 << bit);
                recipe.Append($"flip bit {bit} at 0x{at:x}").Append(i + 1 < flips ? ", " : "");
            }
            return b;
        }
        if (roll < 72)
        {
            int at = rng.Next(b.Length), n = Math.Min(1 + rng.Next(4), b.Length - at);
            byte v = Interesting8[rng.Next(Interesting8.Length)];
            for (int i = 0; i < n; i++) b[at + i] = rng.Next(2) == 0 ? v : (byte)rng.Next(256);
            recipe.Append($"set {n} bytes at 0x{at:x}");
            return b;
        }
        if (roll < 80)
        {
            int len = rng.Next(4) == 0 ? rng.Next(b.Length) : b.Length - 1 - rng.Next(Math.Min(b.Length, 256));
            recipe.Append($"truncate to {len}");
            return b[..Math.Max(0, len)];
        }
        if (roll < 88 && fields.Count > 0)
        {
            // A string table or name gets a control character, or loses its terminator.
            var texts = fields.Where(f => f.Kind == FieldKind.Text && f.Offset + f.Width <= b.Length).ToList();
            if (texts.Count == 0) return b;
            var f = texts[rng.Next(texts.Count)];
            int at = f.Offset + rng.Next(f.Width);
            byte c = ControlBytes[rng.Next(ControlBytes.Length)];
            b[at] = c;
            recipe.Append($"{f.What}: byte 0x{c:x2} at 0x{at:x}");
            return b;
        }
        if (roll < 94)
        {
            int at = rng.Next(b.Length), n = Math.Min(1 + rng.Next(64), b.Length - at);
            recipe.Append($"delete {n} bytes at 0x{at:x}");
            return [.. b.AsSpan(0, at), .. b.AsSpan(at + n)];
        }
        {
            int at = rng.Next(b.Length), n = Math.Min(1 + rng.Next(64), b.Length - at);
            recipe.Append($"duplicate {n} bytes at 0x{at:x}");
            return [.. b.AsSpan(0, at + n), .. b.AsSpan(at, n), .. b.AsSpan(at + n)];
        }
    }

    static readonly byte[] Interesting8 = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];
    static readonly byte[] ControlBytes = [(byte)'\n', (byte)'\r', 0x1b, 0x7f, 0x00, (byte)'\t', 0x9b, 0xe2];

    static void SetField(Random rng, byte[] b, Field f, List<Field> fields, StringBuilder recipe)
    {
        var span = b.AsSpan(f.Offset, f.Width);
        switch (f.Kind)
        {
            case FieldKind.Text:
            {
                int at = rng.Next(f.Width);
                b[f.Offset + at] = rng.Next(3) == 0 ? (byte)rng.Next(256) : ControlBytes[rng.Next(ControlBytes.Length)];
                recipe.Append($"{f.What}: byte at +{at}");
                return;
            }
            case FieldKind.Decimal:
            {
                string[] values = ["0", "-1", "1", "9999999999", "2147483647", "4294967296", "abc", " ", "0x10", "+5", "99999999999999"];
                long current = long.TryParse(Encoding.ASCII.GetString(span).Trim(), out long c) ? c : 0;
                string v = rng.Next(3) == 0 ? (current + rng.Next(-3, 4)).ToString() : values[rng.Next(values.Length)];
                v = v.Length > f.Width ? v[..f.Width] : v.PadRight(f.Width);
                Encoding.ASCII.GetBytes(v, span);
                recipe.Append($"{f.What} = \"{v.TrimEnd()}\" at 0x{f.Offset:x}");
                return;
            }
        }
        ulong current2 = Read(span, f);
        ulong value;
        int pick = rng.Next(10);
        if (pick < 2 && fields.Count > 1)
        {
            // A value that means something elsewhere in the file (an offset, a size, an index).
            var other = fields[rng.Next(fields.Count)];
            value = other.Kind is FieldKind.LittleEndian or FieldKind.BigEndian && other.Offset + other.Width <= b.Length ? Read(b.AsSpan(other.Offset, other.Width), other) : current2;
        }
        else if (pick < 4) value = current2 + (ulong)(long)rng.Next(-8, 9);
        else if (pick < 5) value = (ulong)b.Length + (ulong)(long)rng.Next(-64, 65);
        else
        {
            ulong[] special = f.Width switch
            {
                1 => [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff],
                2 => [0, 1, 0x7fff, 0x8000, 0xff00, 0xff01, 0xfff1, 0xfff2, 0xfffe, 0xffff],
                4 => [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0xff00],
                _ => [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x7fffffffffffffff, 0x8000000000000000, ulong.MaxValue, ulong.MaxValue - 7],
            };
            value = rng.Next(3) == 0 ? 1UL << rng.Next(Math.Min(63, f.Width * 8)) : special[rng.Next(special.Length)];
        }
        Write(span, f, value);
        recipe.Append($"{f.What} 0x{current2:x} -> 0x{Read(span, f):x} at 0x{f.Offset:x}");
    }

    static ulong Read(ReadOnlySpan<byte> s, Field f) => (f.Width, f.Kind) switch
    {
        (1, _) => s[0],
        (2, FieldKind.BigEndian) => BinaryPrimitives.ReadUInt16BigEndian(s),
        (2, _) => BinaryPrimitives.ReadUInt16LittleEndian(s),
        (4, FieldKind.BigEndian) => BinaryPrimitives.ReadUInt32BigEndian(s),
        (4, _) => BinaryPrimitives.ReadUInt32LittleEndian(s),
        (8, FieldKind.BigEndian) => BinaryPrimitives.ReadUInt64BigEndian(s),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(s),
    };

    static void Write(Span<byte> s, Field f, ulong v)
    {
        switch (f.Width, f.Kind)
        {
            case (1, _): s[0] = (byte)v; break;
            case (2, FieldKind.BigEndian): BinaryPrimitives.WriteUInt16BigEndian(s, (ushort)v); break;
            case (2, _): BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)v); break;
            case (4, FieldKind.BigEndian): BinaryPrimitives.WriteUInt32BigEndian(s, (uint)v); break;
            case (4, _): BinaryPrimitives.WriteUInt32LittleEndian(s, (uint)v); break;
            case (8, FieldKind.BigEndian): BinaryPrimitives.WriteUInt64BigEndian(s, v); break;
            default: BinaryPrimitives.WriteUInt64LittleEndian(s, v); break;
        }
    }
}
