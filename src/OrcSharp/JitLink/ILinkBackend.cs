using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// What the generic link algorithm needs from an architecture: how ELF relocations map to edge kinds,
/// the GOT/stub pass, and the fixup formulas. One implementation per architecture.
/// </summary>
public interface ILinkBackend
{
    TargetArch Arch { get; }
    ushort ElfMachine { get; }

    bool IsNoneRelocation(uint type);
    /// <summary>The edge kind that stores a target's full address (S + A) in a pointer-sized field.</summary>
    ushort PointerEdgeKind { get; }
    /// <summary>Maps an ELF relocation type to this backend's edge kind and the width of the field it writes.</summary>
    bool TryMapRelocation(uint type, out ushort kind, out int width);
    string RelocationName(uint type);
    string EdgeKindName(ushort kind);

    /// <summary>Whether an allocatable ELF section becomes a block at all (notes, unwind tables handled elsewhere).</summary>
    bool ShouldLoadSection(string name, in Elf64SectionHeader header);
    MemProt SectionProt(string name, ulong elfFlags);

    /// <summary>Defines symbols the linker provides when they are referenced (e.g. _GLOBAL_OFFSET_TABLE_).</summary>
    void DefineSyntheticSymbols(LinkGraph graph, SymbolTable table);

    /// <summary>Builds GOT entries and stubs and rewrites the edges that use them (runs before allocation).
    /// With <see cref="LinkOptions.StubsForAbsoluteTargets"/>, branches to absolute symbols get stubs too.</summary>
    BackendPassResult BuildGotAndStubs(LinkGraph graph, LinkOptions options);

    /// <summary>After addresses are assigned: adds range-extension veneers for branches that cannot reach.
    /// True if it added blocks (layout then runs again).</summary>
    bool AddRangeExtensions(LinkGraph graph) => false;

    /// <summary>A stub (a PLT entry) that jumps to the address held in <paramref name="slot"/>: it stands
    /// for an external function whose address code takes with a reference that cannot reach the library
    /// (a non-PIE executable's canonical PLT entry), and for an indirect function (IFUNC) whose slot the
    /// executor fills with the resolver's answer.</summary>
    Symbol CreateStub(LinkGraph graph, Symbol slot, string? name);

    /// <summary>Whether an edge kind writes a field too narrow for an arbitrary 64-bit address (32-bit
    /// absolute or PC-relative): such references to library data need a copy in reach.</summary>
    bool IsNarrowReference(ushort kind);

    /// <summary>Whether an edge kind must target a thread-local symbol (true), must not (false), or may (null).</summary>
    bool? RequiresThreadLocalTarget(ushort kind);

    /// <summary>Whether the edge's value, with its block at its assigned address, overflows its field.</summary>
    bool IsOutOfRange(Block block, in Edge edge);

    /// <summary>Applies every edge of <paramref name="block"/> to its working memory.</summary>
    void ApplyFixups(Block block, Span<byte> working, in FixupContext context);
}

/// <summary>What the GOT/stub pass learned that allocation needs to know.</summary>
public readonly record struct BackendPassResult(bool NeedsLow32BitAddresses);

/// <summary>Link-wide values some formulas need: the GOT base, and the link's TLS module once it exists.</summary>
public readonly record struct FixupContext(ExecutorAddr GotBase, TlsModule? TlsModule = null)
{
    public TlsModule Tls(Block block, in Edge edge) => TlsModule ?? throw new LinkError(
        $"{block.SourceFile}: section {block.SourceSection}: offset 0x{edge.Offset:x}: thread-local fixup against '{edge.Target.DisplayName}' inside a thread-local initial image");

    /// <summary>TP + S + A: the target's offset from the thread pointer. A thread-local of this link is at
    /// its offset in this link's block; one defined by an earlier link resolved to its TP offset itself.</summary>
    public long ThreadPointerRelative(Block block, in Edge edge) => edge.Target.Kind == SymbolKind.External
        ? (long)edge.Target.Offset + edge.Addend
        : Tls(block, edge).ThreadPointerOffset + (long)edge.Target.Address.Value + edge.Addend;
}
