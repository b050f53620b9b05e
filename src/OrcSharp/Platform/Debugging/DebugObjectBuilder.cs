using System.Text;
using OrcSharp.JitLink;
using OrcSharp.JitLink.Elf;
using OrcSharp.ObjectFile.Dwarf;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.Platform.Debugging;

/// <summary>A link's debug object: the ELF image debuggers read, with the link's symbolization table inside
/// it, and the key the executor files it under (the link's lowest address). <see cref="Buffer"/> holds the
/// image from <see cref="Prefix"/> on (the first bytes are free for the caller's message header) except its
/// last <see cref="TailSize"/> bytes: those are the link's .eh_frame, which the executor copies from its own
/// memory at <see cref="TailAddress"/>.</summary>
public sealed record DebugObject(ExecutorAddr Key, byte[] Buffer, int Prefix, ExecutorAddr TailAddress, int TailSize, int TableOffset);

/// <summary>
/// Builds a link's <see cref="DebugObject"/> once its addresses are final: a section header for every
/// loaded section of the graph at its address, .eh_frame with its bytes (so a debugger unwinds optimized
/// frames; the executor copies them in), every named function and object of every input in the symbol
/// table (and a name for every linker stub), the inputs' DWARF linked and relocated when they have any,
/// and the table the crash handler, perf map and jitdump read: functions by address, and the line rows
/// of .debug_line.
/// Without DWARF it allocates next to nothing but the image: it counts first, then writes in place.
/// </summary>
public static class DebugObjectBuilder
{
    public const string SymbolizationSection = ".orcsharp.symbolize";

    /// <summary>A block's final address, or null when it is not placed (not loaded, discarded, or empty).
    /// A thread-local block's address is its offset in the link's TLS block.</summary>
    internal static ulong? PlacedAddress(Block? b) =>
        b is { Section: { } s } && (s.IsThreadLocal || !b.Address.IsNull) ? b.Address.Value : null;

    public static DebugObject? Build(LinkGraph graph, IReadOnlyList<ElfObjectUnit> objects, ushort elfMachine, int prefix)
    {
        var loaded = LoadedRanges(graph);
        if (loaded.Count == 0) return null;
        ulong codeStart = ulong.MaxValue, codeEnd = 0;
        foreach (var r in loaded)
            if ((r.Section.Prot & MemProt.Exec) != 0) { codeStart = Math.Min(codeStart, r.Start); codeEnd = Math.Max(codeEnd, r.End); }
        if (codeStart > codeEnd) codeStart = codeEnd = 0;

        // What the tables will hold. Names of every kind share the string table.
        var counts = new Counts();
        var objectNames = new byte[objects.Count][];
        for (int u = 0; u < objects.Count; u++)
        {
            objectNames[u] = Encoding.UTF8.GetBytes(Path.GetFileName(objects[u].DisplayName));
            counts.Names += objectNames[u].Length + 1;
            for (var it = new InputSymbols(objects[u], codeStart, codeEnd); it.MoveNext();)
            {
                if (it.Global) counts.Globals++; else counts.Locals++;
                counts.Names += it.Name.Length + 1;
                if (it.Function) counts.Functions++;
            }
        }
        var stubs = Stubs(graph);
        foreach (var stub in stubs) counts.Names += Encoding.UTF8.GetByteCount(stub.Name) + 1;
        counts.Names += Linker.Length + 1;
        var dwarf = objects.Any(u => DwarfSectionLinker.HasDebugSections(u.Elf)) ? LinkedDwarf.Build(graph, objects, codeStart, codeEnd) : null;
        if (dwarf is not null) counts.Names += dwarf.FileNameBytes;

        // The file's sections.
        var writer = new DebugObjectWriter(elfMachine);
        var sectionIndex = new int[loaded.Count];
        LoadedRange? ehFrame = null;
        for (int i = 0; i < loaded.Count; i++)
        {
            var r = loaded[i];
            ulong flags = Flags(r.Section.Prot), align = r.Section.Blocks.Max(b => b.Alignment);
            if (r.Section.Name == ".eh_frame") ehFrame = r;
            sectionIndex[i] = r.Section.Name == ".eh_frame"
                ? writer.Tail(r.Section.Name, flags, r.Start, (int)(r.End - r.Start), align)
                : writer.Nobits(r.Section.Name, flags, r.Start, r.End - r.Start, align);
        }
        var dwarfIndex = dwarf?.Sections.Select(d => writer.Progbits(d.Name, 0, 0, d.Data.Length, 1)).ToArray() ?? [];
        int functions = counts.Functions + stubs.Count, lines = dwarf?.Rows.Count ?? 0;
        int tableIndex = writer.Progbits(SymbolizationSection, 0, 0, SymbolizationTableWriter.SizeFor(functions, lines), 8);
        int locals = counts.Locals + stubs.Count;
        writer.SymbolTable(locals + counts.Globals, 1 + locals, counts.Names);
        var bytes = writer.Layout(prefix);

        // Their bytes.
        for (int i = 0; i < dwarfIndex.Length; i++) dwarf!.Sections[i].Data.Span.CopyTo(writer.Content(bytes, prefix, dwarfIndex[i]));
        int SectionOf(ulong address)
        {
            int lo = 0, hi = loaded.Count;
            while (lo < hi) { int mid = (lo + hi) / 2; if (loaded[mid].Start <= address) lo = mid + 1; else hi = mid; }
            return lo > 0 && address < loaded[lo - 1].End ? sectionIndex[lo - 1] : ElfAbi.ShnAbs;
        }

        var symbols = writer.Symbols(bytes, prefix);
        var names = writer.SymbolNames(bytes, prefix);
        int nextLocal = 1, nextGlobal = 1 + locals, nextName = 1;
        uint AddName(ReadOnlySpan<byte> name, Span<byte> names)
        {
            name.CopyTo(names[nextName..]);
            nextName += name.Length + 1;
            return (uint)(nextName - name.Length - 1);
        }
        var table = new SymbolizationTableWriter(writer.Content(bytes, prefix, tableIndex), functions, lines, codeStart, codeEnd,
            writer.SymbolNamesOffset - writer.Offset(tableIndex), names.Length);
        for (int u = 0; u < objects.Count; u++)
        {
            uint obj = AddName(objectNames[u], names);
            for (var it = new InputSymbols(objects[u], codeStart, codeEnd); it.MoveNext();)
            {
                uint name = AddName(it.Name, names);
                symbols[it.Global ? nextGlobal++ : nextLocal++] = Symbol(name, it.Address, it.Size, it.Type, it.Global, SectionOf(it.Address));
                if (it.Function) table.AddFunction(it.Address, it.Size, name, obj);
            }
        }
        uint linker = AddName(Encoding.UTF8.GetBytes(Linker), names);
        foreach (var stub in stubs)
        {
            uint name = AddName(Encoding.UTF8.GetBytes(stub.Name), names);
            symbols[nextLocal++] = Symbol(name, stub.Address, stub.Size, ElfAbi.SttFunc, false, SectionOf(stub.Address));
            table.AddFunction(stub.Address, stub.Size, name, linker);
        }
        if (dwarf is not null)
        {
            var files = new uint[dwarf.FileNames.Count];
            for (int i = 0; i < files.Length; i++) files[i] = AddName(dwarf.FileNames[i], names);
            foreach (var (address, file, line) in dwarf.Rows) table.AddLine(address, files[file], line);
        }
        table.Finish();
        return new DebugObject(new ExecutorAddr(loaded[0].Start), bytes, prefix, new ExecutorAddr(ehFrame?.Start ?? 0),
            ehFrame is { } e ? (int)(e.End - e.Start) : 0, writer.Offset(tableIndex));
    }

    /// <summary>The object name linker-made code is listed under.</summary>
    const string Linker = "<linker>";

    struct Counts
    {
        public int Locals, Globals, Names, Functions;
    }

    readonly record struct LoadedRange(Section Section, ulong Start, ulong End);

    /// <summary>The graph's sections in executor memory, by address (a section's blocks are contiguous).</summary>
    static List<LoadedRange> LoadedRanges(LinkGraph graph)
    {
        var ranges = new List<LoadedRange>();
        foreach (var s in graph.Sections)
        {
            if (s.IsThreadLocal) continue;
            ulong start = ulong.MaxValue, end = 0;
            foreach (var b in s.Blocks)
            {
                if (b.Size == 0 || PlacedAddress(b) is not { } a) continue;
                start = Math.Min(start, a);
                end = Math.Max(end, a + b.Size);
            }
            if (start < end) ranges.Add(new LoadedRange(s, start, end));
        }
        ranges.Sort((x, y) => x.Start.CompareTo(y.Start));
        return ranges;
    }

    static ulong Flags(MemProt prot) => ElfAbi.ShfAlloc | ((prot & MemProt.Write) != 0 ? ElfAbi.ShfWrite : 0) | ((prot & MemProt.Exec) != 0 ? ElfAbi.ShfExecInstr : 0);

    static Elf64Symbol Symbol(uint name, ulong value, ulong size, byte type, bool global, int section) => new()
    {
        Name = name, Info = (byte)(((global ? ElfAbi.StbGlobal : ElfAbi.StbLocal) << 4) | type), Shndx = (ushort)section, Value = value, Size = size,
    };

    /// <summary>The named functions and data objects of an input in a loaded, kept, placed, not thread-local
    /// section, where the link placed them. A function with no size extends to the end of its section.</summary>
    ref struct InputSymbols
    {
        readonly ElfObjectUnit _unit;
        readonly ReadOnlySpan<Elf64Symbol> _symbols;
        readonly ReadOnlySpan<byte> _names;
        readonly ulong _codeStart, _codeEnd;
        int _index;

        public ReadOnlySpan<byte> Name;
        public ulong Address, Size;
        public byte Type;
        public bool Global, Function;

        public InputSymbols(ElfObjectUnit unit, ulong codeStart, ulong codeEnd)
        {
            _unit = unit; _codeStart = codeStart; _codeEnd = codeEnd;
            var elf = unit.Elf;
            if (elf.SymtabIndex < 0) return;
            _symbols = elf.Symbols;
            _names = elf.SectionData((int)elf.Sections[elf.SymtabIndex].Link);
        }

        public bool MoveNext()
        {
            var elf = _unit.Elf;
            while (++_index < _symbols.Length)
            {
                ref readonly var s = ref _symbols[_index];
                if (s.Type is not (ElfAbi.SttFunc or ElfAbi.SttObject) || s.Name == 0 || s.Name >= (uint)_names.Length) continue;
                int shndx = s.Shndx == ElfAbi.ShnXIndex ? elf.SymbolSectionIndex(_index, s) : s.Shndx;
                if (shndx is <= 0 or >= ElfAbi.ShnLoReserve) continue;
                var block = _unit.LoadedBlock(shndx);
                if (block is null || block.Section.IsThreadLocal || PlacedAddress(block) is not { } blockAddress) continue;
                var name = _names[(int)s.Name..];
                int end = name.IndexOf((byte)0);
                if (end <= 0) continue;
                Name = name[..end];
                Address = blockAddress + s.Value;
                Type = s.Type;
                Global = s.Binding != ElfAbi.StbLocal;
                Function = s.Type == ElfAbi.SttFunc && Address >= _codeStart && Address < _codeEnd;
                Size = s.Size != 0 || !Function ? s.Size : blockAddress + block.Size - Address;
                return true;
            }
            return false;
        }
    }

    /// <summary>Linker-made code (PLT stubs, veneers), named as a linked file's PLT entries are: "puts@plt".</summary>
    static List<(ulong Address, ulong Size, string Name)> Stubs(LinkGraph graph)
    {
        var stubs = new List<(ulong, ulong, string)>();
        foreach (var section in graph.Sections)
        {
            if ((section.Prot & MemProt.Exec) == 0) continue;
            foreach (var b in section.Blocks)
                if (b.SourceFile == "<linker>" && b.Size > 0 && PlacedAddress(b) is { } a)
                    stubs.Add((a, b.Size, StubTarget(b) is { } target ? target + "@plt" : b.SourceSection));
        }
        return stubs;
    }

    /// <summary>The function a stub jumps to: its edge goes to a GOT entry whose edge names the target.</summary>
    static string? StubTarget(Block stub)
    {
        foreach (var e in stub.Edges)
            if (e.Target.Block is { } got)
                foreach (var g in got.Edges)
                    if (g.Target.Name is { Length: > 0 } n) return n;
        return null;
    }
}
