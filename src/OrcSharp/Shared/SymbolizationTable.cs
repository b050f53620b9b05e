using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace OrcSharp.Shared;

/// <summary>
/// One link's functions and source lines in the compact layout the executor keeps for its crash reports,
/// perf map and jitdump: read in place by the signal handler (src/OrcSharp.Cli/Native/crash_handler.c, whose
/// structs mirror this layout), so it is plain sorted arrays and no pointers. It lives in the link's debug
/// object and shares its string table (.strtab). Little-endian:
/// <code>
/// header   u32 magic "OSYM", u32 version, u64 code start, u64 code end (the link's executable range),
///          u32 function count, u32 line count, u32 functions offset, u32 lines offset,
///          i32 strings offset, u32 strings size          (48 bytes; offsets from the header's start)
/// function u64 start, u64 size, u32 name, u32 object          (24 bytes, sorted by start)
/// line     u64 address, u32 file, u32 line                     (16 bytes, sorted by address;
///          line 0: no line information from this address on)
/// strings  NUL-terminated UTF-8; name, object and file are offsets into them
/// </code>
/// </summary>
public static class SymbolizationTable
{
    public const uint Magic = 0x4d59534f, Version = 1;
    public const int HeaderSize = 48, FunctionSize = 24, LineSize = 16;

    public readonly record struct Function(ulong Start, ulong Size, string Name, string Object);
    public readonly record struct SourceLine(string File, uint Line);
}

/// <summary>
/// Writes a <see cref="SymbolizationTable"/> in place, into a span of <see cref="SizeFor"/> bytes, over a
/// string table the caller fills: functions are added in any order, lines in address order, then
/// <see cref="Finish"/> sorts the functions. Nothing is allocated.
/// </summary>
public ref struct SymbolizationTableWriter
{
    readonly Span<byte> _table;
    readonly int _functionsAt, _linesAt, _functionCapacity, _lineCapacity;
    int _functions, _lines;

    public static int SizeFor(int functions, int lines) =>
        SymbolizationTable.HeaderSize + functions * SymbolizationTable.FunctionSize + lines * SymbolizationTable.LineSize;

    /// <summary>A table in <paramref name="table"/> whose strings are <paramref name="stringsSize"/> bytes at
    /// <paramref name="stringsOffset"/> from its start (before it, or after).</summary>
    public SymbolizationTableWriter(Span<byte> table, int functions, int lines, ulong codeStart, ulong codeEnd, int stringsOffset, int stringsSize)
    {
        _table = table;
        _functionCapacity = functions; _lineCapacity = lines;
        _functionsAt = SymbolizationTable.HeaderSize;
        _linesAt = _functionsAt + functions * SymbolizationTable.FunctionSize;
        BinaryPrimitives.WriteUInt32LittleEndian(table, SymbolizationTable.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(table[4..], SymbolizationTable.Version);
        BinaryPrimitives.WriteUInt64LittleEndian(table[8..], codeStart);
        BinaryPrimitives.WriteUInt64LittleEndian(table[16..], codeEnd);
        BinaryPrimitives.WriteUInt32LittleEndian(table[32..], (uint)_functionsAt);
        BinaryPrimitives.WriteUInt32LittleEndian(table[36..], (uint)_linesAt);
        BinaryPrimitives.WriteInt32LittleEndian(table[40..], stringsOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(table[44..], (uint)stringsSize);
    }

    public void AddFunction(ulong start, ulong size, uint name, uint obj)
    {
        if (_functions == _functionCapacity) throw new InvalidOperationException("more functions than declared");
        var f = _table[(_functionsAt + _functions++ * SymbolizationTable.FunctionSize)..];
        BinaryPrimitives.WriteUInt64LittleEndian(f, start);
        BinaryPrimitives.WriteUInt64LittleEndian(f[8..], size);
        BinaryPrimitives.WriteUInt32LittleEndian(f[16..], name);
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], obj);
    }

    /// <summary>A line row, in address order; <paramref name="line"/> 0 ends the information of the row before.</summary>
    public void AddLine(ulong address, uint file, uint line)
    {
        if (_lines == _lineCapacity) throw new InvalidOperationException("more line rows than declared");
        var l = _table[(_linesAt + _lines++ * SymbolizationTable.LineSize)..];
        BinaryPrimitives.WriteUInt64LittleEndian(l, address);
        BinaryPrimitives.WriteUInt32LittleEndian(l[8..], file);
        BinaryPrimitives.WriteUInt32LittleEndian(l[12..], line);
    }

    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    struct FunctionRecord : IComparable<FunctionRecord>
    {
        public ulong Start, Size;
        public uint Name, Object;
        public readonly int CompareTo(FunctionRecord other) => Start != other.Start ? Start.CompareTo(other.Start) : Name.CompareTo(other.Name);
    }

    /// <summary>Sorts the functions by address (of aliases at one address one stays) and writes the counts.</summary>
    public readonly void Finish()
    {
        var functions = MemoryMarshal.Cast<byte, FunctionRecord>(_table.Slice(_functionsAt, _functions * SymbolizationTable.FunctionSize));
        functions.Sort();
        int kept = 0;
        for (int i = 0; i < functions.Length; i++)
            if (kept == 0 || functions[i].Start != functions[kept - 1].Start) functions[kept++] = functions[i];
        BinaryPrimitives.WriteUInt32LittleEndian(_table[24..], (uint)kept);
        BinaryPrimitives.WriteUInt32LittleEndian(_table[28..], (uint)_lines);
    }
}

/// <summary>Reads a <see cref="SymbolizationTable"/> (validated once; lookups are binary searches).</summary>
public readonly ref struct SymbolizationTableReader
{
    readonly ReadOnlySpan<byte> _table, _strings;
    readonly int _functions, _lines, _functionCount, _lineCount;

    public ulong CodeStart { get; }
    public ulong CodeEnd { get; }
    public int FunctionCount => _functionCount;
    public int LineCount => _lineCount;

    /// <summary>The table at <paramref name="offset"/> in <paramref name="image"/> (which holds its strings too).</summary>
    public SymbolizationTableReader(ReadOnlySpan<byte> image, int offset)
    {
        if (offset < 0 || offset > image.Length - SymbolizationTable.HeaderSize) throw new BadImageFormatException("symbolization table is outside its image");
        var table = image[offset..];
        if (BinaryPrimitives.ReadUInt32LittleEndian(table) != SymbolizationTable.Magic || BinaryPrimitives.ReadUInt32LittleEndian(table[4..]) != SymbolizationTable.Version)
            throw new BadImageFormatException("not a symbolization table");
        CodeStart = BinaryPrimitives.ReadUInt64LittleEndian(table[8..]);
        CodeEnd = BinaryPrimitives.ReadUInt64LittleEndian(table[16..]);
        uint nf = BinaryPrimitives.ReadUInt32LittleEndian(table[24..]), nl = BinaryPrimitives.ReadUInt32LittleEndian(table[28..]);
        uint fo = BinaryPrimitives.ReadUInt32LittleEndian(table[32..]), lo = BinaryPrimitives.ReadUInt32LittleEndian(table[36..]);
        long so = offset + (long)BinaryPrimitives.ReadInt32LittleEndian(table[40..]);
        uint ss = BinaryPrimitives.ReadUInt32LittleEndian(table[44..]);
        if ((ulong)fo + (ulong)nf * SymbolizationTable.FunctionSize > (ulong)table.Length || (ulong)lo + (ulong)nl * SymbolizationTable.LineSize > (ulong)table.Length ||
            so < 0 || so + ss > image.Length || ss == 0 || image[(int)(so + ss - 1)] != 0)
            throw new BadImageFormatException("symbolization table is truncated");
        _table = table;
        _strings = image.Slice((int)so, (int)ss);
        _functions = (int)fo; _lines = (int)lo;
        _functionCount = (int)nf; _lineCount = (int)nl;
    }

    public SymbolizationTable.Function Function(int i)
    {
        var f = _table[(_functions + i * SymbolizationTable.FunctionSize)..];
        return new(BinaryPrimitives.ReadUInt64LittleEndian(f), BinaryPrimitives.ReadUInt64LittleEndian(f[8..]),
            String(BinaryPrimitives.ReadUInt32LittleEndian(f[16..])), String(BinaryPrimitives.ReadUInt32LittleEndian(f[20..])));
    }

    /// <summary>Line row <paramref name="i"/>: its address and source line (null where the row ends a sequence).</summary>
    public (ulong Address, SymbolizationTable.SourceLine? Source) Line(int i)
    {
        var l = _table[(_lines + i * SymbolizationTable.LineSize)..];
        uint line = BinaryPrimitives.ReadUInt32LittleEndian(l[12..]);
        return (BinaryPrimitives.ReadUInt64LittleEndian(l), line == 0 ? null : new(String(BinaryPrimitives.ReadUInt32LittleEndian(l[8..])), line));
    }

    /// <summary>The function that contains <paramref name="address"/>, if any.</summary>
    public SymbolizationTable.Function? FunctionAt(ulong address)
    {
        int i = LastAtOrBelow(address, _functions, SymbolizationTable.FunctionSize, _functionCount);
        if (i < 0) return null;
        var f = Function(i);
        return address - f.Start < f.Size ? f : null;
    }

    /// <summary>The source line of the code at <paramref name="address"/>, if the table has one.</summary>
    public SymbolizationTable.SourceLine? LineAt(ulong address)
    {
        int i = LastAtOrBelow(address, _lines, SymbolizationTable.LineSize, _lineCount);
        return i < 0 ? null : Line(i).Source;
    }

    /// <summary>The index of the first line row at or after <paramref name="address"/>.</summary>
    public int FirstLineAtOrAbove(ulong address) => address == 0 ? 0 : LastAtOrBelow(address - 1, _lines, SymbolizationTable.LineSize, _lineCount) + 1;

    /// <summary>The last record (of <paramref name="count"/>, <paramref name="size"/> bytes each, keyed by their
    /// first u64) whose key is at most <paramref name="key"/>; -1 if none.</summary>
    int LastAtOrBelow(ulong key, int at, int size, int count)
    {
        int lo = 0, hi = count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (BinaryPrimitives.ReadUInt64LittleEndian(_table[(at + mid * size)..]) <= key) lo = mid + 1; else hi = mid;
        }
        return lo - 1;
    }

    string String(uint offset)
    {
        if (offset >= (uint)_strings.Length) throw new BadImageFormatException($"symbolization table: string offset {offset} is outside its strings");
        var rest = _strings[(int)offset..];
        return Encoding.UTF8.GetString(rest[..rest.IndexOf((byte)0)]);
    }
}
