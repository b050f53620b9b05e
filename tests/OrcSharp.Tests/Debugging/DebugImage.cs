using System.Buffers.Binary;
using System.Text;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Tests.Debugging;

/// <summary>A debug object as a debugger reads it: an ELF64 image parsed from its bytes (independently of the
/// writer), with the link's symbolization table in it.</summary>
public sealed class DebugImage
{
    public readonly record struct SectionInfo(string Name, uint Type, ulong Flags, ulong Address, ulong Offset, ulong Size);
    public readonly record struct SymbolInfo(string Name, ulong Value, ulong Size, byte Type, byte Binding, ushort Section);

    public byte[] Bytes { get; }
    public ushort Type { get; }
    public ushort Machine { get; }
    public List<SectionInfo> Sections { get; } = new();
    public List<SymbolInfo> Symbols { get; } = new();

    public DebugImage(byte[] bytes)
    {
        Bytes = bytes;
        var b = bytes.AsSpan();
        if (!b.StartsWith("\u007fELF"u8)) throw new InvalidDataException("not ELF");
        Type = BinaryPrimitives.ReadUInt16LittleEndian(b[16..]);
        Machine = BinaryPrimitives.ReadUInt16LittleEndian(b[18..]);
        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(b[40..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(b[60..]), shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(b[62..]);
        var raw = new List<(uint Name, uint Type, ulong Flags, ulong Addr, ulong Off, ulong Size, uint Link)>();
        for (int i = 0; i < shnum; i++)
        {
            var h = b.Slice((int)shoff + i * 64, 64);
            raw.Add((BinaryPrimitives.ReadUInt32LittleEndian(h), BinaryPrimitives.ReadUInt32LittleEndian(h[4..]), BinaryPrimitives.ReadUInt64LittleEndian(h[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(h[16..]), BinaryPrimitives.ReadUInt64LittleEndian(h[24..]), BinaryPrimitives.ReadUInt64LittleEndian(h[32..]),
                BinaryPrimitives.ReadUInt32LittleEndian(h[40..])));
        }
        string Str(int section, uint offset)
        {
            var s = bytes.AsSpan((int)raw[section].Off + (int)offset);
            return Encoding.UTF8.GetString(s[..s.IndexOf((byte)0)]);
        }
        foreach (var r in raw) Sections.Add(new SectionInfo(Str(shstrndx, r.Name), r.Type, r.Flags, r.Addr, r.Off, r.Size));
        int symtab = raw.FindIndex(r => r.Type == 2);
        for (int i = 1; symtab >= 0 && i < (int)(raw[symtab].Size / 24); i++)
        {
            var e = b.Slice((int)raw[symtab].Off + i * 24, 24);
            Symbols.Add(new SymbolInfo(Str((int)raw[symtab].Link, BinaryPrimitives.ReadUInt32LittleEndian(e)), BinaryPrimitives.ReadUInt64LittleEndian(e[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(e[16..]), (byte)(e[4] & 0xf), (byte)(e[4] >> 4), BinaryPrimitives.ReadUInt16LittleEndian(e[6..])));
        }
    }

    public SectionInfo? Section(string name) => Sections.FirstOrDefault(s => s.Name == name) is { Name: not null } s ? s : null;

    public ReadOnlySpan<byte> Content(SectionInfo s) => Bytes.AsSpan((int)s.Offset, (int)s.Size);

    public SymbolizationTableReader Table => new(Bytes, (int)Section(".orcsharp.symbolize")!.Value.Offset);

    /// <summary>Every image registered in this process with the GDB JIT interface.</summary>
    public static unsafe List<DebugImage> AllRegistered() =>
        GdbJitInterface.Entries().Select(e => new DebugImage(new ReadOnlySpan<byte>((void*)e.Address, (int)e.Size).ToArray())).ToList();

    /// <summary>The registered image that names <paramref name="name"/> at <paramref name="address"/>.</summary>
    public static DebugImage? Registered(ulong address, string name) =>
        AllRegistered().FirstOrDefault(i => i.Symbols.Any(s => s.Name == name && s.Value == address));
}
