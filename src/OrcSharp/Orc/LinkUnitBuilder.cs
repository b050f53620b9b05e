using OrcSharp.JitLink;
using OrcSharp.JitLink.Elf;
using OrcSharp.Orc.Libraries;
using OrcSharp.Platform;
using OrcSharp.Shared;

namespace OrcSharp.Orc;

/// <summary>An object file waiting to be linked: a display name (path, or "lib.a(member.o)") and its bytes.</summary>
public readonly record struct ObjectInput(string Name, ReadOnlyMemory<byte> Bytes);

/// <summary>
/// Builds one link graph from a set of objects plus the archives that may supply members: objects are
/// parsed in parallel, resolved in link order, archive members are pulled in while they resolve an
/// undefined symbol (until nothing changes, like GNU ld), then edges are built in parallel.
/// </summary>
public sealed class LinkUnitBuilder
{
    public LinkGraph Graph { get; }
    public SymbolTable Table { get; } = new();
    readonly ILinkBackend _backend;
    readonly HashSet<string> _comdats = new(StringComparer.Ordinal);
    readonly CommonBlocks _commons = new();
    readonly List<ElfObjectUnit> _units = new();
    readonly HashSet<string> _archiveMembers = new(StringComparer.Ordinal);

    /// <summary>Whether a symbol is a hidden definition from an archive member (libc_nonshared.a's atexit,
    /// libgcc helpers): like every native shared object, each link unit gets its own copy, so atexit
    /// records the unit's own __dso_handle.</summary>
    public bool IsPrivateArchiveDefinition(Symbol s) => s.Scope == SymbolScope.Hidden && s.Origin is { } o && _archiveMembers.Contains(o);

    /// <summary>Whether later links of the JITDylib see this definition: a named non-local symbol, not a
    /// thread-local (its "address" is an offset in the link's TLS block), not the unit's own __dso_handle
    /// and not one of its private copies of hidden archive members.</summary>
    public bool IsVisibleToLaterLinks(Symbol s) =>
        s.Name is { Length: > 0 } && s.Scope != SymbolScope.Local && !s.IsThreadLocal && !ReferenceEquals(s, DsoHandle) && !IsPrivateArchiveDefinition(s);

    /// <summary>Whether the rest of the process sees it (dynamic loader's global scope), as an executable
    /// linked with -rdynamic exports it: visible to later links and of default visibility.</summary>
    public bool IsExportedToProcess(Symbol s) => s.Scope == SymbolScope.Default && IsVisibleToLaterLinks(s);

    public LinkUnitBuilder(string name, ILinkBackend backend)
    {
        _backend = backend;
        Graph = new LinkGraph(name, backend.Arch);
    }

    public void AddObjects(IReadOnlyList<ObjectInput> objects)
    {
        var units = new ElfObjectUnit[objects.Count];
        long bytes = 0;
        foreach (var o in objects) bytes += o.Bytes.Length;
        ParallelLink.For(objects.Count, bytes, i => units[i] = ElfObjectUnit.Create(objects[i].Name, objects[i].Bytes, _backend));
        foreach (var u in units) Resolve(u);
    }

    void Resolve(ElfObjectUnit unit)
    {
        unit.ResolveInto(Graph, Table, _comdats, _commons);
        _units.Add(unit);
    }

    /// <summary>Loads archive members that define a strongly referenced, still undefined symbol, repeating
    /// until no archive supplies anything more. <paramref name="isDefinedElsewhere"/> says whether a name
    /// is already provided outside this unit (earlier links of the JITDylib).</summary>
    public void LoadArchiveMembers(IReadOnlyList<StaticArchive> archives, Func<string, bool> isDefinedElsewhere)
    {
        if (archives.Count == 0) return;
        var loaded = new HashSet<(StaticArchive, int)>();
        bool changed = true;
        while (changed)
        {
            changed = false;
            foreach (var name in Table.StrongUndefinedNames())
            {
                if (isDefinedElsewhere(name)) continue;
                foreach (var archive in archives)
                {
                    if (!archive.TryFindMemberDefining(name, out int member)) continue;
                    if (loaded.Add((archive, member)))
                    {
                        var unit = ElfObjectUnit.Create(archive.MemberDisplayName(member), archive.GetMemberBytes(member), _backend);
                        _archiveMembers.Add(unit.DisplayName);
                        Resolve(unit);
                        changed = true;
                    }
                    break;
                }
            }
        }
    }

    /// <summary>Places commons, defines linker-provided symbols (the unit's own __dso_handle among them),
    /// then builds all edges.</summary>
    public void Complete()
    {
        _commons.Place(Graph, Table);
        _backend.DefineSyntheticSymbols(Graph, Table);
        LinkerDefinedSymbols.DefineStartStop(Graph, Table);
        DsoHandle = LinkerDefinedSymbols.DefineDsoHandle(Graph, Table, _backend.PointerEdgeKind);
        var zero = Symbol.Absolute(null, 0);
        long bytes = 0;
        foreach (var u in _units) bytes += u.Elf.Bytes.Length;
        ParallelLink.For(_units.Count, bytes, i => _units[i].BuildEdges(Table, zero));
        MarkExternalThreadLocals();
        foreach (var s in Table.Symbols)
        {
            if (s.Kind == SymbolKind.External) Graph.ExternalSymbols.Add(s);
            else if (s.Scope != SymbolScope.Local && s.Name is not null) Graph.DefinedSymbols.Add(s);
        }
    }

    /// <summary>A name defined outside the link that TLS relocations refer to is a thread-local of an
    /// earlier link; referring to it with ordinary relocations too is an error.</summary>
    void MarkExternalThreadLocals()
    {
        var tls = new HashSet<Symbol>(ReferenceEqualityComparer.Instance);
        var plain = new Dictionary<Symbol, Block>(ReferenceEqualityComparer.Instance);
        foreach (var block in Graph.Blocks)
            foreach (var e in block.Edges)
            {
                if (e.Target.Kind != SymbolKind.External) continue;
                if (_backend.RequiresThreadLocalTarget(e.Kind) == true) tls.Add(e.Target);
                else if (_backend.RequiresThreadLocalTarget(e.Kind) == false) plain.TryAdd(e.Target, block);
            }
        foreach (var s in tls)
        {
            if (plain.TryGetValue(s, out var b))
                throw new LinkError($"{b.SourceFile}: section {b.SourceSection}: '{s.Name}' is used both as a thread-local and as an ordinary symbol");
            s.IsThreadLocal = true;
        }
    }

    public IReadOnlyList<ElfObjectUnit> Units => _units;
    /// <summary>The unit's own __dso_handle, once <see cref="Complete"/> defined it.</summary>
    public Symbol? DsoHandle { get; private set; }
}
