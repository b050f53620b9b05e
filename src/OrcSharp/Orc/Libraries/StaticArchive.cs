using System.Buffers.Binary;
using System.Text;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.Orc.Libraries;

/// <summary>A member of an archive: its name and where its bytes are (thin archives: a file path).</summary>
public readonly record struct ArchiveMember(string Name, int Offset, int Size, string? ExternalPath);

/// <summary>
/// A GNU ar archive (regular or thin). The symbol index ("/" or "/SYM64/") maps names to members; an
/// archive without one is indexed by reading each member's ELF symbol table. Every header is validated.
/// </summary>
public sealed class StaticArchive
{
    public string Path { get; }
    readonly ReadOnlyMemory<byte> _bytes;
    readonly List<ArchiveMember> _members = new();
    readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    readonly ReadOnlyMemory<byte>?[] _cache;

    public IReadOnlyList<ArchiveMember> Members => _members;
    public bool IsThin { get; }

    StaticArchive(string path, ReadOnlyMemory<byte> bytes)
    {
        Path = path; _bytes = bytes;
        var span = bytes.Span;
        IsThin = span.StartsWith("!<thin>\n"u8);
        if (!IsThin && !span.StartsWith("!<arch>\n"u8)) throw Error("not an ar archive");
        ReadOnlySpan<byte> longNames = default;
        var symbolIndexes = new List<(int Offset, int Size, bool Is64)>();
        var memberByHeaderOffset = new Dictionary<int, int>();
        int pos = 8;
        while (pos < span.Length)
        {
            if (span.Length - pos < 60) throw Error($"truncated member header at offset {pos}");
            var hdr = span.Slice(pos, 60);
            if (hdr[58] != (byte)'`' || hdr[59] != (byte)'\n') throw Error($"bad member header at offset {pos}");
            string rawName = Encoding.ASCII.GetString(hdr[..16]).TrimEnd(' ');
            if (!long.TryParse(Encoding.ASCII.GetString(hdr.Slice(48, 10)).Trim(), out long size) || size < 0)
                throw Error($"bad member size at offset {pos}");
            int dataStart = pos + 60;
            bool external = IsThin && rawName != "/" && rawName != "//" && rawName != "/SYM64/";
            if (!external && size > span.Length - dataStart) throw Error($"member at offset {pos} extends past the end of the archive (truncated?)");
            if (rawName == "/" || rawName == "/SYM64/") symbolIndexes.Add((dataStart, (int)size, rawName == "/SYM64/"));
            else if (rawName == "//") longNames = span.Slice(dataStart, (int)size);
            else
            {
                string name = MemberName(rawName, longNames, pos);
                memberByHeaderOffset[pos] = _members.Count;
                _members.Add(external
                    ? new ArchiveMember(name, 0, (int)size, System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path) ?? ".", name))
                    : new ArchiveMember(name, dataStart, (int)size, null));
            }
            pos = dataStart + (external ? 0 : (int)size);
            if ((pos & 1) != 0) pos++; // members are 2-byte aligned
        }
        _cache = new ReadOnlyMemory<byte>?[_members.Count];
        if (symbolIndexes.Count > 0) foreach (var (o, s, w) in symbolIndexes) ReadSymbolIndex(span.Slice(o, s), w, memberByHeaderOffset);
        else BuildIndexFromMembers();
    }

    public static StaticArchive Parse(string path, ReadOnlyMemory<byte> bytes) => new(path, bytes);

    LinkError Error(string what) => new($"{Path}: {what}");

    string MemberName(string raw, ReadOnlySpan<byte> longNames, int at)
    {
        if (raw.StartsWith('/') && raw.Length > 1 && char.IsAsciiDigit(raw[1]))
        {
            if (!int.TryParse(raw.AsSpan(1), out int off) || off >= longNames.Length) throw Error($"member at offset {at} has a bad long-name reference {raw}");
            var rest = longNames[off..];
            int end = rest.IndexOf("/\n"u8);
            if (end < 0) end = rest.IndexOf((byte)'\n');
            if (end < 0) throw Error($"unterminated long member name at offset {at}");
            return Encoding.UTF8.GetString(rest[..end]);
        }
        if (raw.StartsWith("#1/", StringComparison.Ordinal)) throw Error("BSD-style archives are not supported");
        return raw.EndsWith('/') ? raw[..^1] : raw;
    }

    void ReadSymbolIndex(ReadOnlySpan<byte> data, bool is64, Dictionary<int, int> members)
    {
        int w = is64 ? 8 : 4;
        if (data.Length < w) throw Error("truncated symbol index");
        ulong count = is64 ? BinaryPrimitives.ReadUInt64BigEndian(data) : BinaryPrimitives.ReadUInt32BigEndian(data);
        if (count > (ulong)(data.Length - w) / (ulong)w) throw Error("symbol index count exceeds the index");
        var offsets = data.Slice(w, (int)count * w);
        var names = data[(w + (int)count * w)..];
        int np = 0;
        for (int i = 0; i < (int)count; i++)
        {
            ulong off = is64 ? BinaryPrimitives.ReadUInt64BigEndian(offsets[(i * 8)..]) : BinaryPrimitives.ReadUInt32BigEndian(offsets[(i * 4)..]);
            int end = names[np..].IndexOf((byte)0);
            if (end < 0) throw Error("symbol index names are not NUL-terminated");
            string name = Encoding.UTF8.GetString(names.Slice(np, end));
            np += end + 1;
            if (off > int.MaxValue || !members.TryGetValue((int)off, out int m)) throw Error($"symbol index entry '{name}' points at no member");
            _index.TryAdd(name, m);
        }
    }

    void BuildIndexFromMembers()
    {
        for (int m = 0; m < _members.Count; m++)
        {
            var bytes = GetMemberBytes(m);
            if (!bytes.Span.StartsWith("\u007fELF"u8)) continue; // not an object: only an error if it is needed
            ElfObjectFile elf;
            try { elf = ElfObjectFile.Parse(MemberDisplayName(m), bytes); }
            catch (LinkError) { continue; }
            var syms = elf.Symbols;
            for (int i = elf.FirstGlobalSymbol; i < syms.Length; i++)
                if (syms[i].Binding != ElfAbi.StbLocal && syms[i].Shndx != ElfAbi.ShnUndef)
                    _index.TryAdd(elf.SymbolName(syms[i]), m);
        }
    }

    public bool TryFindMemberDefining(string symbol, out int memberIndex) => _index.TryGetValue(symbol, out memberIndex);

    /// <summary>A member's bytes. An archive is shared by every JITDylib of the process, which may link on
    /// several threads, so the cache of members read is locked.</summary>
    public ReadOnlyMemory<byte> GetMemberBytes(int memberIndex)
    {
        lock (_cache) return ReadMember(memberIndex);
    }

    ReadOnlyMemory<byte> ReadMember(int memberIndex)
    {
        if (_cache[memberIndex] is { } c) return c;
        var m = _members[memberIndex];
        ReadOnlyMemory<byte> bytes;
        if (m.ExternalPath is { } p)
        {
            try { bytes = MappedFile.Read(p); }
            catch (LinkError e) { throw Error($"thin archive member {m.Name}: {e.Message}"); }
        }
        else bytes = _bytes.Slice(m.Offset, m.Size);
        _cache[memberIndex] = bytes;
        return bytes;
    }

    public string MemberDisplayName(int memberIndex) => $"{Path}({_members[memberIndex].Name})";
}
