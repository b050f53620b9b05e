using System.Text;
using OrcSharp.JitLink;
using OrcSharp.JitLink.Elf;
using OrcSharp.ObjectFile.Dwarf;
using OrcSharp.Shared;

namespace OrcSharp.Platform.Debugging;

/// <summary>
/// A link's DWARF, linked (<see cref="DwarfSectionLinker"/>), and the rows of its line tables in the form the
/// symbolization table keeps: in address order, within the link's code (sequences of code the link did not
/// keep start at address 0, the tombstone), one row per change of source line, and a row of line 0 where a
/// sequence ends.
/// </summary>
internal sealed class LinkedDwarf
{
    public List<(string Name, ReadOnlyMemory<byte> Data)> Sections { get; } = new();
    public List<(ulong Address, int File, uint Line)> Rows { get; } = new();
    /// <summary>The source files rows name (UTF-8), by index.</summary>
    public List<byte[]> FileNames { get; } = new();

    /// <summary>The bytes the file names take in a string table.</summary>
    public int FileNameBytes => FileNames.Sum(f => f.Length + 1);

    public static LinkedDwarf Build(LinkGraph graph, IReadOnlyList<ElfObjectUnit> objects, ulong codeStart, ulong codeEnd)
    {
        Dictionary<string, Symbol>? byName = null;
        ulong? AddressOf(string name)
        {
            if (byName is null)
            {
                byName = new(StringComparer.Ordinal);
                foreach (var s in graph.ExternalSymbols) byName.TryAdd(s.Name!, s);
                foreach (var s in graph.DefinedSymbols) byName[s.Name!] = s;
            }
            return byName.TryGetValue(name, out var sym) ? sym.Address.Value : null;
        }
        var linker = new DwarfSectionLinker(graph.Arch, AddressOf);
        foreach (var unit in objects)
            if (DwarfSectionLinker.HasDebugSections(unit.Elf)) linker.Add(unit);
        var result = new LinkedDwarf();
        result.Sections.AddRange(linker.Sections);

        var rows = new List<DwarfLineRow>();
        var files = new DwarfFileNames();
        try { DwarfLineTable.Read(linker.Section(".debug_line"), linker.Section(".debug_line_str"), linker.Section(".debug_str"), rows, files); }
        catch (BadImageFormatException) { } // the rows before the malformed unit are kept
        foreach (var f in files.Paths) result.FileNames.Add(Encoding.UTF8.GetBytes(f));
        result.FileNames.Add("??"u8.ToArray()); // a row naming a file the table does not list
        int unknownFile = result.FileNames.Count - 1;

        var kept = new List<(ulong Address, int File, uint Line)>();
        int lastFile = -2;
        uint lastLine = 0;
        bool inSequence = false;
        foreach (var row in rows)
        {
            if (row.Address < codeStart || row.Address > codeEnd) { inSequence = false; continue; }
            if (row.EndSequence)
            {
                if (inSequence) kept.Add((row.Address, unknownFile, 0));
                inSequence = false; lastFile = -2;
                continue;
            }
            inSequence = true;
            int file = row.File >= 0 ? row.File : unknownFile;
            if (file == lastFile && row.Line == lastLine) continue; // the same line again: nothing new to say
            lastFile = file; lastLine = row.Line;
            kept.Add((row.Address, file, row.Line));
        }
        // Where a sequence ends at the address the next one starts, the start wins; otherwise, of rows at
        // one address the last in the program does (a stable sort).
        result.Rows.AddRange(kept.OrderBy(r => r.Address).ThenBy(r => r.Line == 0 ? 0 : 1));
        return result;
    }
}
