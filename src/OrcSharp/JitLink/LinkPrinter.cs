using System.Globalization;
using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// What --show-addrs and --show-graph print: the final address of every section, block and symbol of a
/// link, and for the graph also every edge (fixup) with its kind and target.
/// </summary>
public static class LinkPrinter
{
    static string A(ulong v) => "0x" + v.ToString("x16", CultureInfo.InvariantCulture);
    static string H(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Symbols by name, then per input file its sections, GOT entries and stubs.</summary>
    public static void WriteAddresses(TextWriter w, IReadOnlyList<LinkSnapshot> links, IEnumerable<(string Name, ExecutorAddr Address)> absolutes)
    {
        w.WriteLine("Registered addresses:");
        w.WriteLine("Symbols:");
        var symbols = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, addr) in absolutes) symbols[name] = $"{A(addr.Value)} absolute";
        foreach (var link in links)
            foreach (var s in link.Graph.DefinedSymbols.Concat(link.Graph.LocalSymbols))
                if (s.Name is { Length: > 0 } n) symbols[n] = SymbolLine(s);
        foreach (var (name, line) in symbols) w.WriteLine($"  \"{name}\" {line}");
        foreach (var link in links)
            foreach (var file in link.Files.Order(StringComparer.Ordinal).Append("<linker>"))
            {
                w.WriteLine($"File \"{file}\":");
                foreach (var section in link.Graph.Sections)
                    if (link.SectionRange(file, section.Name, exact: true) is var (start, size))
                        w.WriteLine($"  Section \"{section.Name}\": {A(start.Value)}, size {H(size)}{(section.IsThreadLocal ? " (offset in the TLS block)" : "")}");
                if (file != "<linker>") continue;
                foreach (var (name, got) in link.GotEntries.OrderBy(x => x.Key, StringComparer.Ordinal))
                    w.WriteLine($"  GOT \"{name}\": {A(got.Address.Value)}");
                foreach (var (name, stub) in link.Stubs.OrderBy(x => x.Key, StringComparer.Ordinal))
                    w.WriteLine($"  Stub \"{name}\": {A(stub.Address.Value)}");
            }
    }

    static string SymbolLine(Symbol s) =>
        $"{A(s.Address.Value)}, size {H(s.Size)}, {s.Scope.ToString().ToLowerInvariant()}, {s.Linkage.ToString().ToLowerInvariant()}" +
        (s.Block is { } b ? $", in {b.Section.Name} of {Path.GetFileName(b.SourceFile)}" : "");

    /// <summary>Sections in address order, each block with its symbols and its edges after fixups.</summary>
    public static void WriteGraph(TextWriter w, LinkSnapshot link, ILinkBackend backend)
    {
        var graph = link.Graph;
        w.WriteLine($"Link graph \"{graph.Name}\" after fixups:");
        var symbolsOf = new Dictionary<Block, List<Symbol>>(ReferenceEqualityComparer.Instance);
        foreach (var s in graph.DefinedSymbols.Concat(graph.LocalSymbols))
            if (s.Block is { } b)
            {
                if (!symbolsOf.TryGetValue(b, out var list)) symbolsOf[b] = list = new();
                list.Add(s);
            }
        foreach (var section in graph.Sections.Where(s => s.Blocks.Count > 0).OrderBy(s => s.IsThreadLocal).ThenBy(s => s.Blocks.Min(b => b.Address.Value)))
        {
            w.WriteLine($"section {section.Name} ({Prot(section.Prot)}{(section.IsThreadLocal ? ", thread-local: addresses are offsets in the TLS block" : "")}):");
            foreach (var b in section.Blocks.OrderBy(b => b.Address.Value))
            {
                w.WriteLine($"  block {A(b.Address.Value)} -- {A(b.Address.Value + b.Size)} size {H(b.Size)}, align {b.Alignment}{(b.IsZeroFill ? ", zero-fill" : "")}, from {b}");
                if (symbolsOf.TryGetValue(b, out var syms))
                    foreach (var s in syms.OrderBy(s => s.Offset).ThenBy(s => s.Name, StringComparer.Ordinal))
                        w.WriteLine($"    symbol {A(s.Address.Value)} (+{H(s.Offset)}) size {H(s.Size)}, {s.Scope.ToString().ToLowerInvariant()}, {s.Linkage.ToString().ToLowerInvariant()}: {s.Name}");
                foreach (var e in b.Edges.OrderBy(e => e.Offset))
                    w.WriteLine($"    edge {A(b.Address.Value + e.Offset)} (+{H(e.Offset)}) {backend.EdgeKindName(e.Kind)} -> {Target(e.Target)}{(e.Addend == 0 ? "" : e.Addend > 0 ? $" + {H((ulong)e.Addend)}" : $" - {H((ulong)-e.Addend)}")}");
            }
        }
        var externals = graph.ExternalSymbols;
        if (externals.Count > 0)
        {
            w.WriteLine("external symbols:");
            foreach (var s in externals.OrderBy(s => s.Name, StringComparer.Ordinal))
                w.WriteLine($"  {A(s.Address.Value)} {s.Linkage.ToString().ToLowerInvariant()}: {s.Name}");
        }
    }

    static string Target(Symbol s) => s.Name is { Length: > 0 } n ? $"{n} ({A(s.Address.Value)})"
        : s.Block is { } b ? $"{A(s.Address.Value)} ({b.Section.Name} of {b})" : A(s.Address.Value);

    static string Prot(MemProt p) =>
        $"{((p & MemProt.Read) != 0 ? 'r' : '-')}{((p & MemProt.Write) != 0 ? 'w' : '-')}{((p & MemProt.Exec) != 0 ? 'x' : '-')}";
}
