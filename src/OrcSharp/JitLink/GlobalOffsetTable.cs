using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// The link's GOT: one 8-byte entry per target (a pointer edge to it), in a read-only section that is
/// fixed up before it is protected, and the _GLOBAL_OFFSET_TABLE_ header that GOT-relative formulas use.
/// Shared by every backend; entries are created by their GOT/stub passes.
/// </summary>
public sealed class GlobalOffsetTable(LinkGraph graph, ushort pointerEdgeKind)
{
    public const string SectionName = "$__GOT", StubSectionName = "$__STUBS", BaseSymbolName = "_GLOBAL_OFFSET_TABLE_";
    static readonly byte[] EntryTemplate = new byte[8];
    readonly Dictionary<Symbol, Symbol> _entries = new(ReferenceEqualityComparer.Instance);
    Section? _section;

    /// <summary>The entry holding <paramref name="target"/>'s address, created on first use.</summary>
    public Symbol Entry(Symbol target)
    {
        if (_entries.TryGetValue(target, out var entry)) return entry;
        _section ??= graph.GetOrCreateSection(SectionName, MemProt.Read);
        var block = new Block(_section, EntryTemplate, 8, 8, false, "<linker>", "GOT", 1);
        block.Edges.Add(new Edge(pointerEdgeKind, 0, target, 0));
        _section.Blocks.Add(block);
        entry = Symbol.Defined(null, block, 0, 8, Linkage.Strong, SymbolScope.Local, false);
        _entries.Add(target, entry);
        return entry;
    }

    /// <summary>The GOT header block (8 reserved bytes) and its _GLOBAL_OFFSET_TABLE_ symbol, created once.</summary>
    public static Symbol EnsureBase(LinkGraph graph)
    {
        if (FindBase(graph) is { } existing) return existing;
        var got = graph.GetOrCreateSection(SectionName, MemProt.Read);
        var header = new Block(got, new byte[8], 8, 8, false, "<linker>", "GOT header");
        got.Blocks.Insert(0, header);
        var sym = Symbol.Defined(BaseSymbolName, header, 0, 0, Linkage.Strong, SymbolScope.Hidden, false);
        sym.Origin = "<linker>";
        graph.DefinedSymbols.Add(sym);
        return sym;
    }

    public static Symbol? FindBase(LinkGraph graph) =>
        graph.FindSection(SectionName) is { Blocks.Count: > 0 } s && s.Blocks[0].SourceSection == "GOT header"
            ? graph.DefinedSymbols.FirstOrDefault(x => x.Name == BaseSymbolName) : null;

    /// <summary>Defines _GLOBAL_OFFSET_TABLE_ when objects refer to it.</summary>
    public static void DefineIfReferenced(LinkGraph graph, SymbolTable table)
    {
        if (table.TryGet(BaseSymbolName, out var s) && !s.IsDefined) table.DefineSynthetic(EnsureBase(graph));
    }
}
