namespace OrcSharp.ObjectFile.Dwarf;

/// <summary>One row of a line table: from <see cref="Address"/> on, code belongs to line <see cref="Line"/>
/// of file <see cref="File"/> (an index into <see cref="DwarfFileNames"/>). An end-of-sequence row marks the
/// first address after a sequence: no line information from there.</summary>
public readonly record struct DwarfLineRow(ulong Address, int File, uint Line, bool EndSequence);

/// <summary>The source file names of the line tables read so far, each path once.</summary>
public sealed class DwarfFileNames
{
    readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    public List<string> Paths { get; } = new();

    public int Add(string path)
    {
        if (_index.TryGetValue(path, out int i)) return i;
        _index.Add(path, Paths.Count);
        Paths.Add(path);
        return Paths.Count - 1;
    }
}

/// <summary>
/// Runs the line-number programs of a .debug_line section (DWARF 2 to 5, 32- and 64-bit), the state
/// machine of DWARF 5 section 6.2, and keeps the rows. File names are given as the table names them: a
/// path relative to the compilation directory stays relative ("crash.c"), one in another directory gets
/// it ("/usr/include/stdio.h"). Input must already be relocated (addresses final, string offsets into the
/// given .debug_line_str and .debug_str). Malformed data throws <see cref="BadImageFormatException"/>.
/// </summary>
public static class DwarfLineTable
{
    // Standard opcodes (DWARF 5, 6.2.5.2) and extended opcodes (6.2.5.3).
    const byte Copy = 1, AdvancePc = 2, AdvanceLine = 3, SetFile = 4, SetColumn = 5, NegateStmt = 6, SetBasicBlock = 7,
        ConstAddPc = 8, FixedAdvancePc = 9, SetPrologueEnd = 10, SetEpilogueBegin = 11, SetIsa = 12;
    const byte EndSequence = 1, SetAddress = 2, DefineFile = 3, SetDiscriminator = 4;
    // Entry formats of DWARF 5 directory and file tables (6.2.4.1) and the forms they may use (7.5.6).
    const ulong LnctPath = 1, LnctDirectoryIndex = 2;
    const ulong FormBlock2 = 0x03, FormBlock4 = 0x04, FormData2 = 0x05, FormData4 = 0x06, FormData8 = 0x07, FormString = 0x08,
        FormBlock = 0x09, FormBlock1 = 0x0a, FormData1 = 0x0b, FormStrp = 0x0e, FormUdata = 0x0f, FormData16 = 0x1e, FormLineStrp = 0x1f,
        FormStrx = 0x1a, FormStrx1 = 0x25, FormStrx2 = 0x26, FormStrx3 = 0x27, FormStrx4 = 0x28;

    /// <summary>Appends the rows of every unit in <paramref name="debugLine"/> to <paramref name="rows"/>.</summary>
    public static void Read(ReadOnlySpan<byte> debugLine, ReadOnlySpan<byte> debugLineStr, ReadOnlySpan<byte> debugStr,
        List<DwarfLineRow> rows, DwarfFileNames files)
    {
        var r = new DwarfReader(debugLine);
        while (!r.AtEnd)
        {
            ulong length = r.U32();
            bool dwarf64 = length == 0xffff_ffff;
            if (dwarf64) length = r.U64();
            else if (length >= 0xffff_fff0) throw new BadImageFormatException($"DWARF: reserved unit length 0x{length:x}");
            if (length > (ulong)(r.Length - r.Position)) throw new BadImageFormatException("DWARF: line table unit extends past its section");
            int unitEnd = r.Position + (int)length;
            ReadUnit(debugLine[..unitEnd], r.Position, dwarf64, debugLineStr, debugStr, rows, files);
            r.Position = unitEnd;
        }
    }

    static void ReadUnit(ReadOnlySpan<byte> unit, int start, bool dwarf64, ReadOnlySpan<byte> lineStr, ReadOnlySpan<byte> str,
        List<DwarfLineRow> rows, DwarfFileNames files)
    {
        var r = new DwarfReader(unit, start);
        ushort version = r.U16();
        if (version is < 2 or > 5) throw new BadImageFormatException($"DWARF: line table version {version} is not supported");
        if (version >= 5)
        {
            r.U8(); // address size: DW_LNE_set_address says its own
            r.U8(); // segment selector size
        }
        ulong headerLength = dwarf64 ? r.U64() : r.U32();
        if (headerLength > (ulong)(unit.Length - r.Position)) throw new BadImageFormatException("DWARF: line table header extends past its unit");
        int programStart = r.Position + (int)headerLength;
        byte minInstLength = r.U8();
        if (version >= 4) r.U8(); // maximum operations per instruction (VLIW only)
        r.U8(); // default_is_stmt: every row is kept, statement or not
        sbyte lineBase = (sbyte)r.U8();
        byte lineRange = r.U8();
        byte opcodeBase = r.U8();
        if (lineRange == 0 || opcodeBase == 0) throw new BadImageFormatException("DWARF: line table header has line_range or opcode_base 0");
        Span<byte> argCounts = stackalloc byte[256];
        for (int i = 1; i < opcodeBase; i++) argCounts[i] = r.U8();

        // File index -> index in `files`. DWARF 5 numbers files from 0, earlier versions from 1.
        var fileMap = new List<int>();
        if (version >= 5) ReadV5Tables(ref r, dwarf64, lineStr, str, fileMap, files);
        else ReadV4Tables(ref r, fileMap, files);

        r.Position = programStart;
        ulong address = 0;
        int file = 1;
        long line = 1;
        int Map(int f) => f >= 0 && f < fileMap.Count ? fileMap[f] : -1;
        void Emit(bool end) => rows.Add(new DwarfLineRow(address, end ? -1 : Map(file), end ? 0 : (uint)Math.Clamp(line, 0, uint.MaxValue), end));

        while (!r.AtEnd)
        {
            byte op = r.U8();
            if (op >= opcodeBase)
            {
                int adjusted = op - opcodeBase;
                address += (ulong)(adjusted / lineRange * minInstLength);
                line += lineBase + adjusted % lineRange;
                Emit(false);
                continue;
            }
            switch (op)
            {
                case 0:
                    ulong len = r.ULeb128();
                    if (len == 0) continue;
                    if (len > (ulong)(r.Length - r.Position)) throw new BadImageFormatException("DWARF: extended opcode extends past its unit");
                    int next = r.Position + (int)len;
                    byte sub = r.U8();
                    if (sub == EndSequence)
                    {
                        Emit(true);
                        address = 0; file = 1; line = 1;
                    }
                    else if (sub == SetAddress) address = r.Unsigned((int)len - 1);
                    else if (sub == DefineFile && version < 5) fileMap.Add(files.Add(r.CString()));
                    else if (sub == SetDiscriminator) r.ULeb128();
                    r.Position = next;
                    break;
                case Copy: Emit(false); break;
                case AdvancePc: address += r.ULeb128() * minInstLength; break;
                case AdvanceLine: line += r.SLeb128(); break;
                case SetFile: file = (int)Math.Min(r.ULeb128(), int.MaxValue); break;
                case SetColumn: r.ULeb128(); break;
                case NegateStmt: case SetBasicBlock: case SetPrologueEnd: case SetEpilogueBegin: break;
                case ConstAddPc: address += (ulong)((255 - opcodeBase) / lineRange * minInstLength); break;
                case FixedAdvancePc: address += r.U16(); break;
                case SetIsa: r.ULeb128(); break;
                default:
                    for (int i = 0; i < argCounts[op]; i++) r.ULeb128(); // an opcode this reader does not know
                    break;
            }
        }
    }

    static void ReadV4Tables(ref DwarfReader r, List<int> fileMap, DwarfFileNames files)
    {
        var dirs = new List<string> { "" }; // directory 0 is the compilation directory
        for (string d; (d = r.CString()).Length > 0;) dirs.Add(d);
        fileMap.Add(-1); // file numbers start at 1
        for (string name; (name = r.CString()).Length > 0;)
        {
            ulong dir = r.ULeb128();
            r.ULeb128(); // modification time
            r.ULeb128(); // length
            fileMap.Add(files.Add(Join(dir < (ulong)dirs.Count ? dirs[(int)dir] : "", dir == 0, name)));
        }
    }

    static void ReadV5Tables(ref DwarfReader r, bool dwarf64, ReadOnlySpan<byte> lineStr, ReadOnlySpan<byte> str, List<int> fileMap, DwarfFileNames files)
    {
        var dirs = new List<string>();
        foreach (var (path, _) in ReadEntries(ref r, dwarf64, lineStr, str)) dirs.Add(path ?? "");
        foreach (var (path, dir) in ReadEntries(ref r, dwarf64, lineStr, str))
            fileMap.Add(path is null ? -1 : files.Add(Join(dir < (ulong)dirs.Count ? dirs[(int)dir] : "", dir == 0, path)));
    }

    /// <summary>One DWARF 5 directory or file table: its entry format, then the entries (path, directory index).</summary>
    static List<(string? Path, ulong Dir)> ReadEntries(ref DwarfReader r, bool dwarf64, ReadOnlySpan<byte> lineStr, ReadOnlySpan<byte> str)
    {
        int formatCount = r.U8();
        Span<(ulong Content, ulong Form)> format = stackalloc (ulong, ulong)[formatCount];
        for (int i = 0; i < formatCount; i++) format[i] = (r.ULeb128(), r.ULeb128());
        ulong count = r.ULeb128();
        if (count > (ulong)(r.Length - r.Position)) throw new BadImageFormatException("DWARF: line table has more entries than bytes");
        var entries = new List<(string?, ulong)>((int)count);
        for (ulong e = 0; e < count; e++)
        {
            string? path = null;
            ulong dir = 0;
            foreach (var (content, form) in format)
            {
                ulong value = 0;
                string? text = null;
                switch (form)
                {
                    case FormString: text = r.CString(); break;
                    case FormLineStrp: text = DwarfReader.StringAt(lineStr, dwarf64 ? r.U64() : r.U32()); break;
                    case FormStrp: text = DwarfReader.StringAt(str, dwarf64 ? r.U64() : r.U32()); break;
                    case FormUdata: value = r.ULeb128(); break;
                    case FormData1: value = r.U8(); break;
                    case FormData2: value = r.U16(); break;
                    case FormData4: value = r.U32(); break;
                    case FormData8: value = r.U64(); break;
                    case FormData16: r.Skip(16); break;
                    case FormBlock: r.Skip(r.ULeb128()); break;
                    case FormBlock1: r.Skip(r.U8()); break;
                    case FormBlock2: r.Skip(r.U16()); break;
                    case FormBlock4: r.Skip(r.U32()); break;
                    // Indexed strings need the unit's .debug_str_offsets base, which a line table does not have.
                    case FormStrx: r.ULeb128(); break;
                    case FormStrx1: r.U8(); break;
                    case FormStrx2: r.U16(); break;
                    case FormStrx3: r.Skip(3); break;
                    case FormStrx4: r.U32(); break;
                    default: throw new BadImageFormatException($"DWARF: form 0x{form:x} in a line table header is not supported");
                }
                if (content == LnctPath) path = text;
                else if (content == LnctDirectoryIndex) dir = value;
            }
            entries.Add((path, dir));
        }
        return entries;
    }

    /// <summary>A file's path as a report shows it: absolute paths and those in the compilation directory as
    /// given, others under their directory.</summary>
    static string Join(string dir, bool isCompilationDir, string name) =>
        name.StartsWith('/') || isCompilationDir || dir.Length == 0 ? name : dir.EndsWith('/') ? dir + name : dir + "/" + name;
}
