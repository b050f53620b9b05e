using System.Buffers.Binary;
using System.Text;

namespace OrcSharp.ObjectFile.Dwarf;

/// <summary>
/// A forward reader over DWARF data (little-endian): fixed-size integers, LEB128 and NUL-terminated
/// strings. Every read is bounds-checked; running off the end throws <see cref="BadImageFormatException"/>.
/// </summary>
public ref struct DwarfReader(ReadOnlySpan<byte> data, int position = 0)
{
    readonly ReadOnlySpan<byte> _data = data;
    public int Position = position;

    public readonly int Length => _data.Length;
    public readonly bool AtEnd => Position >= _data.Length;

    ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || Position > _data.Length - n) throw new BadImageFormatException($"DWARF data ends at offset {_data.Length}, reading {n} bytes at {Position}");
        var s = _data.Slice(Position, n);
        Position += n;
        return s;
    }

    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
    public void Skip(ulong n)
    {
        if (n > (ulong)(_data.Length - Position)) throw new BadImageFormatException($"DWARF data ends at offset {_data.Length}, skipping {n} bytes at {Position}");
        Position += (int)n;
    }

    /// <summary>An unsigned integer of 1, 2, 4 or 8 bytes.</summary>
    public ulong Unsigned(int size) => size switch
    {
        1 => U8(), 2 => U16(), 4 => U32(), 8 => U64(),
        _ => throw new BadImageFormatException($"DWARF: unsupported field size {size}"),
    };

    public ulong ULeb128()
    {
        ulong result = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = U8();
            if (shift < 64) result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
    }

    public long SLeb128()
    {
        long result = 0;
        int shift = 0;
        byte b;
        do
        {
            b = U8();
            if (shift < 64) result |= (long)(b & 0x7f) << shift;
            shift += 7;
        } while ((b & 0x80) != 0);
        if (shift < 64 && (b & 0x40) != 0) result |= -1L << shift;
        return result;
    }

    /// <summary>A NUL-terminated UTF-8 string at the current position.</summary>
    public string CString()
    {
        var rest = _data[Position..];
        int end = rest.IndexOf((byte)0);
        if (end < 0) throw new BadImageFormatException($"DWARF: string at offset {Position} is not NUL-terminated");
        Position += end + 1;
        return Encoding.UTF8.GetString(rest[..end]);
    }

    /// <summary>The NUL-terminated string at <paramref name="offset"/> of a string section (.debug_str, .debug_line_str).</summary>
    public static string StringAt(ReadOnlySpan<byte> section, ulong offset)
    {
        if (offset >= (ulong)section.Length) throw new BadImageFormatException($"DWARF: string offset {offset} is outside its section ({section.Length} bytes)");
        return new DwarfReader(section, (int)offset).CString();
    }
}
