using System.Buffers.Binary;
using System.Text;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.Orc.Libraries;

/// <summary>
/// A GNU ar archive (regular or thin). The symbol index ("/" or "/SYM64/") maps names to members; an
/// archive without one is indexed by reading each member's ELF symbol table. Every header is validated.
/// </summary>
/// <remarks>
/// Every link reads libgcc.a's index (650 names, 250 members), so opening an archive allocates nothing per
/// member or per name: members are header positions, names are looked up by their bytes in a hash table
/// over the index itself, and a member's name becomes a string only when an error or a display needs it.
/// </remarks>
public sealed class StaticArchive
{
    public string Path { get; }
    readonly ReadOnlyMemory<byte> _bytes;
    readonly Member[] _members;
    readonly ReadOnlyMemory<byte>?[] _cache;
    readonly int _longNames, _longNamesLength; // the "//" member's data
    readonly ByteNameIndex _index;

    /// <summary>One member: where its header, name and data are. A thin archive's member data is a file.</summary>
    readonly record struct Member(int Header, int NameStart, int NameLength, int Data, int Size, bool External);

    public bool IsThin { get; }

    StaticArchive(string path, ReadOnlyMemory<byte> bytes)
    {
        Path = path; _bytes = bytes;
        var span = bytes.Span;
        IsThin = span.StartsWith("!<thin>\n"u8);
        if (!IsThin && !span.StartsWith("!<arch>\n"u8)) throw Error("not an ar archive");
        var symbolIndexes = new List<(int Offset, int Size, bool Is64)>();
        var members = new List<Member>();
        int pos = 8;
        while (pos < span.Length)
        {
            if (span.Length - pos < 60) throw Error($"truncated member header at offset {pos}");
            var hdr = span.Slice(pos, 60);
            if (hdr[58] != (byte)'`' || hdr[59] != (byte)'\n') throw Error($"bad member header at offset {pos}");
            var rawName = hdr[..16].TrimEnd((byte)' ');
            if (!TryParseDecimal(hdr.Slice(48, 10), out int size)) throw Error($"bad member size at offset {pos}");
            int dataStart = pos + 60;
            bool special = rawName.SequenceEqual("/"u8) || rawName.SequenceEqual("//"u8) || rawName.SequenceEqual("/SYM64/"u8);
            bool external = IsThin && !special;
            if (!external && size > span.Length - dataStart) throw Error($"member at offset {pos} extends past the end of the archive (truncated?)");
            if (rawName.SequenceEqual("/"u8) || rawName.SequenceEqual("/SYM64/"u8)) symbolIndexes.Add((dataStart, size, rawName.Length > 1));
            else if (rawName.SequenceEqual("//"u8)) { _longNames = dataStart; _longNamesLength = size; }
            else
            {
                var (nameStart, nameLength) = MemberNameBytes(span, pos, rawName);
                members.Add(new Member(pos, nameStart, nameLength, dataStart, size, external));
            }
            pos = dataStart + (external ? 0 : size);
            if ((pos & 1) != 0) pos++; // members are 2-byte aligned
        }
        _members = members.ToArray();
        _cache = new ReadOnlyMemory<byte>?[_members.Length];
        _index = new ByteNameIndex();
        if (symbolIndexes.Count > 0) foreach (var (o, s, w) in symbolIndexes) ReadSymbolIndex(span, o, s, w);
        else BuildIndexFromMembers();
    }

    public static StaticArchive Parse(string path, ReadOnlyMemory<byte> bytes) => new(path, bytes);

    LinkError Error(string what) => new($"{Path}: {what}");

    /// <summary>A decimal ar field: digits, then spaces (leading spaces tolerated).</summary>
    static bool TryParseDecimal(ReadOnlySpan<byte> field, out int value)
    {
        value = 0;
        field = field.Trim((byte)' ');
        if (field.IsEmpty) return false;
        long v = 0;
        foreach (byte b in field)
        {
            if (b is < (byte)'0' or > (byte)'9') return false;
            v = v * 10 + (b - '0');
            if (v > int.MaxValue) return false;
        }
        value = (int)v;
        return true;
    }

    /// <summary>Where a member's name is in the archive: in its header ("name/"), or in the "//" table
    /// ("/123" refers to offset 123 there, ended by "/\n" or "\n").</summary>
    (int Start, int Length) MemberNameBytes(ReadOnlySpan<byte> span, int header, ReadOnlySpan<byte> raw)
    {
        if (raw.Length > 1 && raw[0] == '/' && char.IsAsciiDigit((char)raw[1]))
        {
            var longNames = span.Slice(_longNames, _longNamesLength);
            if (!TryParseDecimal(raw[1..], out int off) || off >= longNames.Length)
                throw Error($"member at offset {header} has a bad long-name reference {Encoding.ASCII.GetString(raw)}");
            var rest = longNames[off..];
            int end = rest.IndexOf("/\n"u8);
            if (end < 0) end = rest.IndexOf((byte)'\n');
            if (end < 0) throw Error($"unterminated long member name at offset {header}");
            return (_longNames + off, end);
        }
        if (raw.StartsWith("#1/"u8)) throw Error("BSD-style archives are not supported");
        return (header, raw.Length > 0 && raw[^1] == '/' ? raw.Length - 1 : raw.Length);
    }

    string MemberName(int memberIndex)
    {
        var m = _members[memberIndex];
        return Encoding.UTF8.GetString(_bytes.Span.Slice(m.NameStart, m.NameLength));
    }

    void ReadSymbolIndex(ReadOnlySpan<byte> archive, int start, int length, bool is64)
    {
        var data = archive.Slice(start, length);
        int w = is64 ? 8 : 4;
        if (data.Length < w) throw Error("truncated symbol index");
        ulong count = is64 ? BinaryPrimitives.ReadUInt64BigEndian(data) : BinaryPrimitives.ReadUInt32BigEndian(data);
        if (count > (ulong)(data.Length - w) / (ulong)w) throw Error("symbol index count exceeds the index");
        var offsets = data.Slice(w, (int)count * w);
        int namesStart = w + (int)count * w;
        var names = data[namesStart..];
        _index.Reserve((int)count);
        int np = 0;
        for (int i = 0; i < (int)count; i++)
        {
            ulong off = is64 ? BinaryPrimitives.ReadUInt64BigEndian(offsets[(i * 8)..]) : BinaryPrimitives.ReadUInt32BigEndian(offsets[(i * 4)..]);
            int end = names[np..].IndexOf((byte)0);
            if (end < 0) throw Error("symbol index names are not NUL-terminated");
            int m = off > int.MaxValue ? -1 : MemberAtHeader((int)off);
            if (m < 0) throw Error($"symbol index entry '{Encoding.UTF8.GetString(names.Slice(np, end))}' points at no member");
            _index.TryAdd(archive, start + namesStart + np, end, m);
            np += end + 1;
        }
    }

    /// <summary>The member whose header is at <paramref name="offset"/>, or -1 (members are in file order).</summary>
    int MemberAtHeader(int offset)
    {
        int lo = 0, hi = _members.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            int h = _members[mid].Header;
            if (h == offset) return mid;
            if (h < offset) lo = mid + 1; else hi = mid - 1;
        }
        return -1;
    }

    void BuildIndexFromMembers()
    {
        for (int m = 0; m < _members.Length; m++)
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

    public bool TryFindMemberDefining(string symbol, out int memberIndex) => _index.TryGet(_bytes.Span, symbol, out memberIndex);

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
        if (m.External)
        {
            string name = MemberName(memberIndex);
            try { bytes = MappedFile.Read(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path) ?? ".", name)); }
            catch (LinkError e) { throw Error($"thin archive member {name}: {e.Message}"); }
        }
        else bytes = _bytes.Slice(m.Data, m.Size);
        _cache[memberIndex] = bytes;
        return bytes;
    }

    /// <summary>"archive(member)"; a thin archive's member is named by the path it records.</summary>
    public string MemberDisplayName(int memberIndex) => $"{Path}({MemberName(memberIndex)})";
}
