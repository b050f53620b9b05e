using System.Buffers.Binary;
using System.Text;

namespace OrcSharp.Shared;

/// <summary>
/// Writer for SimplePackedSerialization (LLVM ORC's wire encoding): little-endian fixed-width integers,
/// bool as one byte, strings and sequences as a uint64 count followed by the elements, tuples as the
/// concatenation of their fields.
/// </summary>
public sealed class SpsWriter
{
    byte[] _buf;
    int _len;

    public SpsWriter(int capacity = 64) => _buf = new byte[capacity];

    public int Length => _len;
    public ReadOnlySpan<byte> WrittenSpan => _buf.AsSpan(0, _len);
    public byte[] ToArray() => _buf.AsSpan(0, _len).ToArray();
    public void Clear() => _len = 0;

    Span<byte> Grow(int n)
    {
        if (_len + n > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        var s = _buf.AsSpan(_len, n);
        _len += n;
        return s;
    }

    public SpsWriter Bool(bool v) { Grow(1)[0] = v ? (byte)1 : (byte)0; return this; }
    public SpsWriter U8(byte v) { Grow(1)[0] = v; return this; }
    public SpsWriter U16(ushort v) { BinaryPrimitives.WriteUInt16LittleEndian(Grow(2), v); return this; }
    public SpsWriter U32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(Grow(4), v); return this; }
    public SpsWriter U64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(Grow(8), v); return this; }
    public SpsWriter I32(int v) { BinaryPrimitives.WriteInt32LittleEndian(Grow(4), v); return this; }
    public SpsWriter I64(long v) { BinaryPrimitives.WriteInt64LittleEndian(Grow(8), v); return this; }
    public SpsWriter Addr(ExecutorAddr a) => U64(a.Value);

    public SpsWriter String(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        U64((ulong)n);
        Encoding.UTF8.GetBytes(s, Grow(n));
        return this;
    }

    /// <summary>A sequence of bytes (SPSSequence&lt;char&gt;): count then raw bytes.</summary>
    public SpsWriter Bytes(ReadOnlySpan<byte> b)
    {
        U64((ulong)b.Length);
        b.CopyTo(Grow(b.Length));
        return this;
    }

    public SpsWriter Raw(ReadOnlySpan<byte> b) { b.CopyTo(Grow(b.Length)); return this; }

    /// <summary>An SPSError: the HasError flag, then the message if any.</summary>
    public SpsWriter Error(string? message)
    {
        Bool(message is not null);
        if (message is not null) String(message);
        return this;
    }

    /// <summary>The start of an SPSExpected&lt;T&gt;: the HasValue flag (the opposite polarity of an
    /// SPSError's), then the value (written next by the caller) or, on failure, the message.</summary>
    public SpsWriter Expected(string? error)
    {
        Bool(error is null);
        if (error is not null) String(error);
        return this;
    }
}

/// <summary>Reader for SimplePackedSerialization. Every read is bounds-checked; malformed input is a
/// <see cref="LinkError"/>, never an out-of-range exception.</summary>
public ref struct SpsReader
{
    ReadOnlySpan<byte> _data;
    public SpsReader(ReadOnlySpan<byte> data) => _data = data;
    public readonly int Remaining => _data.Length;

    ReadOnlySpan<byte> Take(ulong n)
    {
        if (n > (ulong)_data.Length) throw new LinkError($"malformed message: needs {n} more bytes, has {_data.Length}");
        var s = _data[..(int)n];
        _data = _data[(int)n..];
        return s;
    }

    public bool Bool() => Take(1)[0] switch { 0 => false, 1 => true, var b => throw new LinkError($"malformed message: bool byte {b}") };
    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
    public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
    public ExecutorAddr Addr() => new(U64());
    public string String() => Encoding.UTF8.GetString(Take(U64()));
    public ReadOnlySpan<byte> Bytes() => Take(U64());

    /// <summary>A sequence count, checked against the bytes left (each element needs at least
    /// <paramref name="minElementSize"/> bytes) so a hostile count cannot trigger a huge allocation.</summary>
    public int Count(int minElementSize = 1)
    {
        ulong n = U64();
        if (n > (ulong)_data.Length / (ulong)Math.Max(1, minElementSize)) throw new LinkError($"malformed message: sequence of {n} elements exceeds the message");
        return (int)n;
    }

    /// <summary>Reads an SPSError; returns its message or null for success.</summary>
    public string? Error() => Bool() ? String() : null;

    /// <summary>Reads the start of an SPSExpected&lt;T&gt;: null when a value follows, else the error message.</summary>
    public string? Expected() => Bool() ? null : String();
}
