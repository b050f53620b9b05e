using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// A link as it ended up, taken after fixups: its graph (every section, block and symbol at its final
/// address), each block's fixed-up bytes, and the GOT entries and stubs the link made, by the name of
/// what they stand for. What --show-addrs, --show-graph and `jitlink -check` read.
/// </summary>
public sealed class LinkSnapshot
{
    readonly Dictionary<Block, ReadOnlyMemory<byte>> _content = new(ReferenceEqualityComparer.Instance);
    readonly Block[] _byAddress;

    public LinkGraph Graph { get; }
    /// <summary>GOT entry for each named target (LLVM's got_addr).</summary>
    public IReadOnlyDictionary<string, Symbol> GotEntries { get; }
    /// <summary>Stub for each named target (LLVM's stub_addr).</summary>
    public IReadOnlyDictionary<string, Symbol> Stubs { get; }
    /// <summary>File names (without directories) of the objects that contributed blocks.</summary>
    public IReadOnlySet<string> Files { get; }

    LinkSnapshot(LinkGraph graph, Func<Block, ReadOnlyMemory<byte>> fixedUp)
    {
        Graph = graph;
        var blocks = new List<Block>();
        var files = new HashSet<string>(StringComparer.Ordinal);
        foreach (var section in graph.Sections)
            foreach (var b in section.Blocks)
            {
                // Thread-local blocks are not in executor memory: their addresses are offsets in the TLS image.
                _content[b] = b.IsZeroFill ? new byte[b.Size] : section.IsThreadLocal ? b.Content : fixedUp(b);
                if (!section.IsThreadLocal) blocks.Add(b);
                if (!IsSynthesized(b)) files.Add(Path.GetFileName(b.SourceFile));
            }
        _byAddress = blocks.OrderBy(b => b.Address.Value).ToArray();
        Files = files;
        var got = new Dictionary<string, Symbol>(StringComparer.Ordinal);
        var stubs = new Dictionary<string, Symbol>(StringComparer.Ordinal);
        foreach (var b in graph.FindSection(GlobalOffsetTable.SectionName)?.Blocks ?? [])
            if (EntryTarget(b) is { Name.Length: > 0 } t) got.TryAdd(t.Name, Symbol.Defined(null, b, 0, b.Size, Linkage.Strong, SymbolScope.Local, false));
        foreach (var b in graph.FindSection(GlobalOffsetTable.StubSectionName)?.Blocks ?? [])
            if (EntryTarget(b) is { Kind: SymbolKind.Defined, Block: var g } && g!.Section.Name == GlobalOffsetTable.SectionName &&
                EntryTarget(g) is { Name.Length: > 0 } t)
                stubs.TryAdd(t.Name, Symbol.Defined(null, b, 0, b.Size, Linkage.Strong, SymbolScope.Local, true));
        GotEntries = got;
        Stubs = stubs;
    }

    /// <summary>The target of a GOT entry or stub: what its first edge refers to (a GOT entry holds the
    /// target's address; a stub jumps through a GOT entry).</summary>
    static Symbol? EntryTarget(Block b) => b.Edges.Count > 0 && IsSynthesized(b) ? b.Edges[0].Target : null;

    public static bool IsSynthesized(Block b) => b.SourceFile == "<linker>";

    /// <summary>Where section <paramref name="section"/> of input <paramref name="file"/> (a file name
    /// without directories, or "&lt;linker&gt;" for what the linker made) starts and how far its blocks
    /// reach. Unless <paramref name="exact"/>, a section only the linker made (the GOT, stubs) is found
    /// under any input file, as it is in LLVM's per-object graphs.</summary>
    public (ExecutorAddr Start, ulong Size)? SectionRange(string file, string section, bool exact = false)
    {
        if (Graph.FindSection(section) is not { Blocks.Count: > 0 } s) return null;
        bool linker = file == "<linker>";
        var mine = s.Blocks.Where(b => linker ? IsSynthesized(b) : !IsSynthesized(b) && Path.GetFileName(b.SourceFile) == file).ToList();
        if (mine.Count == 0 && !exact && !linker && Files.Contains(file) && s.Blocks.All(IsSynthesized)) mine = s.Blocks;
        if (mine.Count == 0) return null;
        ulong start = mine.Min(b => b.Address.Value), end = mine.Max(b => b.Address.Value + b.Size);
        return (new ExecutorAddr(start), end - start);
    }

    /// <summary>The block's bytes after fixups (zeros for zero-fill).</summary>
    public ReadOnlyMemory<byte> Content(Block b) => _content.TryGetValue(b, out var c) ? c : ReadOnlyMemory<byte>.Empty;

    /// <summary>Copies the link's fixed-up memory at [address, address + into.Length) when every byte of it
    /// lies in a block of this link.</summary>
    public bool TryRead(ExecutorAddr address, Span<byte> into)
    {
        for (int i = 0; i < into.Length; i++)
        {
            ulong a = address.Value + (ulong)i;
            var b = BlockAt(a);
            if (b is null) return false;
            into[i] = Content(b).Span[(int)(a - b.Address.Value)];
        }
        return true;
    }

    /// <summary>The block (not thread-local) whose bytes contain <paramref name="address"/>.</summary>
    public Block? BlockAt(ulong address)
    {
        int lo = 0, hi = _byAddress.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            var b = _byAddress[mid];
            if (address < b.Address.Value) hi = mid - 1;
            else if (address - b.Address.Value >= b.Size) lo = mid + 1;
            else return b;
        }
        return null;
    }

    /// <summary>Takes a snapshot of every link it is added to, after fixups.</summary>
    public sealed class Recorder : ILinkPlugin
    {
        public List<LinkSnapshot> Snapshots { get; } = new();
        public void PostFixup(LinkGraph graph, Func<Block, ReadOnlyMemory<byte>> fixedUpContent) =>
            Snapshots.Add(new LinkSnapshot(graph, fixedUpContent));
    }
}
