using OrcSharp.JitLink;
using OrcSharp.Shared;

namespace OrcSharp.Platform;

/// <summary>Symbols a native link provides: __start_SEC/__stop_SEC for sections whose names are C
/// identifiers, and each link unit's __dso_handle.</summary>
public static class LinkerDefinedSymbols
{
    public static void DefineStartStop(LinkGraph graph, SymbolTable table)
    {
        foreach (var s in table.Undefined())
        {
            string name = s.Name!;
            bool start = name.StartsWith("__start_", StringComparison.Ordinal);
            if (!start && !name.StartsWith("__stop_", StringComparison.Ordinal)) continue;
            string secName = name[(start ? 8 : 7)..];
            if (!IsCIdentifier(secName) || graph.FindSection(secName) is not { Blocks.Count: > 0 } section) continue;
            var block = start ? section.Blocks[0] : section.Blocks[^1];
            var sym = Symbol.Defined(name, block, start ? 0 : block.Size, 0, Linkage.Strong, SymbolScope.Hidden, false);
            sym.Origin = "<linker>";
            table.DefineSynthetic(sym);
        }
    }

    /// <summary>Defines __dso_handle (8 bytes of its own, hidden, holding its own address as crtbegin's
    /// does in a shared object). Every link unit gets its own, so the atexit and __cxa_atexit handlers its
    /// code registers can be run and dropped with it (__cxa_finalize) when the unit alone is removed.</summary>
    public static Symbol? DefineDsoHandle(LinkGraph graph, SymbolTable table, ushort pointerEdgeKind)
    {
        if (table.TryGet("__dso_handle", out var s) && s.IsDefined) return null;
        var section = graph.GetOrCreateSection("$__dso_handle", MemProt.Read);
        var block = new Block(section, new byte[8], 8, 8, false, "<linker>", "__dso_handle");
        section.Blocks.Add(block);
        var sym = Symbol.Defined("__dso_handle", block, 0, 8, Linkage.Strong, SymbolScope.Hidden, false);
        block.Edges.Add(new Edge(pointerEdgeKind, 0, sym, 0));
        sym.Origin = "<linker>";
        table.DefineSynthetic(sym);
        return sym;
    }

    static bool IsCIdentifier(string s)
    {
        if (s.Length == 0 || char.IsAsciiDigit(s[0])) return false;
        foreach (char c in s) if (!char.IsAsciiLetterOrDigit(c) && c != '_') return false;
        return true;
    }
}
