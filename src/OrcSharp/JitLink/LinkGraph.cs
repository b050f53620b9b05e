using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// The target-independent link graph: sections of blocks (content with an address), symbols naming
/// offsets in blocks (or external/absolute addresses), and edges (fixups) from a block offset to a symbol.
/// One graph is one unit of linking: it is allocated, fixed up and finalized together.
/// </summary>
public sealed class LinkGraph
{
    public string Name { get; }
    public TargetArch Arch { get; }
    public uint PointerSize => 8;
    readonly Dictionary<string, Section> _sectionsByName = new();
    public List<Section> Sections { get; } = new();
    /// <summary>Symbols defined outside this graph, resolved by lookup before fixups.</summary>
    public List<Symbol> ExternalSymbols { get; } = new();
    /// <summary>Symbols defined in this graph and visible to other graphs (scope Default).</summary>
    public List<Symbol> DefinedSymbols { get; } = new();
    /// <summary>Named symbols local to their object (static functions and data), for inspection (checks,
    /// graph dumps) and for passes that must see every definition of a kind (indirect functions). Links
    /// never look them up by name.</summary>
    public List<Symbol> LocalSymbols { get; } = new();

    public LinkGraph(string name, TargetArch arch) { Name = name; Arch = arch; }

    /// <summary>The link's thread-local block as the executor registered it, once it exists.</summary>
    public TlsModule? TlsModule { get; set; }

    public Section GetOrCreateSection(string name, MemProt prot, MemLifetime lifetime = MemLifetime.Standard)
    {
        if (_sectionsByName.TryGetValue(name, out var s)) return s;
        s = new Section(name, prot, lifetime, Sections.Count);
        _sectionsByName.Add(name, s);
        Sections.Add(s);
        return s;
    }

    public Section? FindSection(string name) => _sectionsByName.GetValueOrDefault(name);

    public IEnumerable<Block> Blocks => Sections.SelectMany(s => s.Blocks);
}

public enum TargetArch : byte { X86_64, AArch64 }

/// <summary>A named group of blocks that share protection and lifetime (".text", ".data", "$__GOT" ...).</summary>
public sealed class Section
{
    public string Name { get; }
    public MemProt Prot { get; set; }
    public MemLifetime Lifetime { get; set; }
    public int Ordinal { get; }
    public List<Block> Blocks { get; } = new();
    public bool IsThreadLocal { get; set; }

    public Section(string name, MemProt prot, MemLifetime lifetime, int ordinal)
    {
        Name = name; Prot = prot; Lifetime = lifetime; Ordinal = ordinal;
    }

    public AllocGroup Group => new(Prot, Lifetime);
    public override string ToString() => Name;
}

/// <summary>A contiguous run of bytes (or zero-fill) placed as a unit, with the fixups inside it.</summary>
public sealed class Block
{
    public Section Section { get; internal set; }
    /// <summary>Initial bytes (empty for zero-fill). Not modified: fixups are applied to working memory.</summary>
    public ReadOnlyMemory<byte> Content { get; set; }
    public ulong Size { get; set; }
    public ulong Alignment { get; set; }
    public bool IsZeroFill { get; set; }
    public ExecutorAddr Address { get; set; }
    /// <summary>Kept by dead-stripping even when nothing refers to it (an initializer array, a terminator).</summary>
    public bool KeepAlive { get; set; }
    public List<Edge> Edges { get; }
    /// <summary>Where this block came from, for error messages: "file.o" and the ELF section name.</summary>
    public string SourceFile { get; }
    public string SourceSection { get; }

    public Block(Section section, ReadOnlyMemory<byte> content, ulong size, ulong alignment, bool zeroFill,
        string sourceFile, string sourceSection, int edgeCapacity = 0)
    {
        Section = section; Content = content; Size = size; Alignment = Math.Max(1, alignment); IsZeroFill = zeroFill;
        SourceFile = sourceFile; SourceSection = sourceSection;
        Edges = new List<Edge>(edgeCapacity);
    }

    public override string ToString() => $"{SourceFile}:{SourceSection}";
}

public enum Linkage : byte { Strong, Weak }
public enum SymbolScope : byte { Default, Hidden, Local }
public enum SymbolKind : byte { Defined, External, Absolute }

/// <summary>A name (or anonymous) for an address: an offset in a block, an absolute value, or something
/// defined outside the graph whose address is found by lookup.</summary>
public sealed class Symbol
{
    public string? Name { get; set; }
    public SymbolKind Kind { get; set; }
    public Block? Block { get; set; }
    /// <summary>Offset in <see cref="Block"/>, or the address for absolute and resolved external symbols.</summary>
    public ulong Offset { get; set; }
    public ulong Size { get; set; }
    public Linkage Linkage { get; set; }
    public SymbolScope Scope { get; set; }
    public bool IsCallable { get; set; }
    public bool IsThreadLocal { get; set; }
    /// <summary>An indirect function (STT_GNU_IFUNC): its block and offset are its resolver's until the
    /// platform gives it the stub that stands for it (Platform/IndirectFunctions).</summary>
    public bool IsIndirectFunction { get; set; }
    /// <summary>Input that defines (or, for externals, first references) this symbol, for error messages.</summary>
    public string? Origin { get; set; }

    public bool IsDefined => Kind == SymbolKind.Defined;

    public ExecutorAddr Address => Kind == SymbolKind.Defined ? Block!.Address + Offset : new ExecutorAddr(Offset);

    public static Symbol Defined(string? name, Block block, ulong offset, ulong size, Linkage linkage, SymbolScope scope, bool callable) =>
        new() { Name = name, Kind = SymbolKind.Defined, Block = block, Offset = offset, Size = size, Linkage = linkage, Scope = scope, IsCallable = callable, Origin = block.SourceFile };

    public static Symbol External(string name, Linkage linkage, string? origin) =>
        new() { Name = name, Kind = SymbolKind.External, Linkage = linkage, Origin = origin };

    public static Symbol Absolute(string? name, ulong value, SymbolScope scope = SymbolScope.Local) =>
        new() { Name = name, Kind = SymbolKind.Absolute, Offset = value, Scope = scope };

    public string DisplayName => Name is { Length: > 0 } n ? n : Block is { } b ? $"{b.SourceSection}+0x{Offset:x}" : "<anonymous>";
    public override string ToString() => DisplayName;
}

/// <summary>A fixup: at <see cref="Offset"/> in its block, write a value computed by <see cref="Kind"/>'s
/// formula from the target symbol's address and the addend. Kinds are target-specific.</summary>
public struct Edge
{
    public uint Offset;
    public ushort Kind;
    public Symbol Target;
    public long Addend;

    public Edge(ushort kind, uint offset, Symbol target, long addend)
    {
        Kind = kind; Offset = offset; Target = target; Addend = addend;
    }
}
