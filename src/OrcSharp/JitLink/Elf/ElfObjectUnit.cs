using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.Elf;

/// <summary>
/// One ELF relocatable object on its way into a link graph. Built in three steps so independent objects
/// can be processed in parallel: <see cref="Create"/> (parallel: blocks and local symbols),
/// <see cref="ResolveInto"/> (sequential, link order: COMDAT and global symbols),
/// <see cref="BuildEdges"/> (parallel: relocations to edges).
/// </summary>
public sealed class ElfObjectUnit
{
    public ElfObjectFile Elf { get; }
    public string DisplayName { get; }
    /// <summary>Block for each loaded section (null for sections that are not loaded or were discarded).</summary>
    readonly Block?[] _blocks;
    readonly string?[] _blockSectionKey;
    /// <summary>Symbols by symbol-table index: locals and this object's own global definitions (globals are
    /// re-bound to the resolved winner before edges are built).</summary>
    readonly Symbol?[] _symbols;
    readonly List<(string Signature, int GroupSection)> _comdats = new();
    readonly ILinkBackend _backend;

    ElfObjectUnit(ElfObjectFile elf, string displayName, ILinkBackend backend)
    {
        Elf = elf; DisplayName = displayName; _backend = backend;
        _blocks = new Block?[elf.Sections.Length];
        _blockSectionKey = new string?[elf.Sections.Length];
        _symbols = new Symbol?[elf.SymbolCount];
    }

    public static ElfObjectUnit Create(string displayName, ReadOnlyMemory<byte> bytes, ILinkBackend backend)
    {
        var elf = ElfObjectFile.Parse(displayName, bytes);
        if (elf.Machine != backend.ElfMachine)
            throw elf.Error($"is for machine {elf.Machine} ({MachineName(elf.Machine)}), not {MachineName(backend.ElfMachine)}");
        var unit = new ElfObjectUnit(elf, displayName, backend);
        unit.CreateBlocks();
        unit.CreateSymbols();
        return unit;
    }

    static string MachineName(ushort m) => m switch { ElfAbi.EmX86_64 => "x86-64", ElfAbi.EmAArch64 => "AArch64", 3 => "i386", 40 => "ARM", 243 => "RISC-V", _ => "unknown" };

    LinkError Error(int section, string what) => new($"{DisplayName}: section {Elf.SectionName(section)}: {what}");

    void CreateBlocks()
    {
        var sections = Elf.Sections;
        for (int i = 1; i < sections.Length; i++)
        {
            ref readonly var sh = ref sections[i];
            if (sh.Type == ElfAbi.ShtGroup)
            {
                var words = Elf.GroupWords(i);
                if ((words[0] & ElfAbi.GrpComdat) != 0)
                {
                    if (sh.Link != Elf.SymtabIndex || sh.Info >= Elf.SymbolCount) throw Error(i, "section group has a bad signature symbol");
                    var sig = Elf.Symbols[(int)sh.Info];
                    string name = Elf.SymbolName(sig);
                    // A group whose signature is a section symbol is named after that section.
                    if (sig.Type == ElfAbi.SttSection) name = Elf.SectionName(Elf.SymbolSectionIndex((int)sh.Info, sig));
                    _comdats.Add((name, i));
                }
                continue;
            }
            if ((sh.Flags & ElfAbi.ShfAlloc) == 0 || (sh.Flags & ElfAbi.ShfExclude) != 0) continue;
            string name0 = Elf.SectionName(i);
            if (!_backend.ShouldLoadSection(name0, sh)) continue;
            if ((sh.Flags & ElfAbi.ShfWrite) != 0 && (sh.Flags & ElfAbi.ShfExecInstr) != 0)
                throw Error(i, "is both writable and executable");
            bool zeroFill = sh.Type == ElfAbi.ShtNobits;
            _blocks[i] = new Block(null!, zeroFill ? default : Elf.SectionMemory(i), sh.Size, Math.Max(1, sh.AddrAlign),
                zeroFill, DisplayName, name0);
            _blockSectionKey[i] = name0;
        }
    }

    void CreateSymbols()
    {
        var syms = Elf.Symbols;
        for (int i = 1; i < syms.Length; i++)
        {
            ref readonly var s = ref syms[i];
            byte type = s.Type;
            if (type == ElfAbi.SttFile) continue;
            int shndx = Elf.SymbolSectionIndex(i, s);
            // With more than 0xff00 sections, SHN_XINDEX leads to real indices in the reserved range:
            // only an index written directly in the symbol can be SHN_ABS, SHN_COMMON ...
            bool reserved = s.Shndx != ElfAbi.ShnXIndex && s.Shndx >= ElfAbi.ShnLoReserve;
            bool local = s.Binding == ElfAbi.StbLocal;
            // A section symbol is anonymous, unless a hand-made object gives it a name and global binding.
            if (type == ElfAbi.SttSection && (local || Elf.SymbolName(s).Length == 0))
            {
                if (!reserved && shndx > 0 && _blocks[shndx] is { } sb)
                {
                    _symbols[i] = Symbol.Defined(null, sb, 0, 0, Linkage.Strong, SymbolScope.Local, false);
                    _symbols[i]!.IsThreadLocal = (Elf.Sections[shndx].Flags & ElfAbi.ShfTls) != 0;
                }
                continue;
            }
            if (type == ElfAbi.SttGnuIfunc)
                throw Elf.Error($"symbol '{Elf.SymbolName(s)}' is an indirect function (STT_GNU_IFUNC), which is not supported");
            string name = local && shndx == ElfAbi.ShnUndef ? "" : Elf.SymbolName(s);
            var scope = local ? SymbolScope.Local : s.Visibility is ElfAbi.StvHidden or ElfAbi.StvInternal ? SymbolScope.Hidden : SymbolScope.Default;
            var linkage = s.Binding == ElfAbi.StbWeak || s.Binding == ElfAbi.StbGnuUnique ? Linkage.Weak : Linkage.Strong;
            if (!local && s.Binding is not (ElfAbi.StbGlobal or ElfAbi.StbWeak or ElfAbi.StbGnuUnique))
                throw Elf.Error($"symbol '{name}' has unsupported binding {s.Binding}");
            Symbol? sym = null;
            if (shndx == ElfAbi.ShnUndef) continue; // bound to the resolved symbol by name later
            if (reserved && shndx == ElfAbi.ShnAbs)
                sym = Symbol.Absolute(name, s.Value, scope);
            else if (reserved && shndx == ElfAbi.ShnCommon)
            {
                if (local) throw Elf.Error($"local symbol '{name}' is common");
                if (type == ElfAbi.SttTls) throw Elf.Error($"thread-local common symbol '{name}' is not supported (build with -fno-common)");
                ulong align = Math.Max(1, s.Value);
                if ((align & (align - 1)) != 0) throw Elf.Error($"common symbol '{name}' has alignment {align}, not a power of two");
                var block = new Block(null!, default, s.Size, align, true, DisplayName, "COMMON");
                sym = Symbol.Defined(name, block, 0, s.Size, Linkage.Strong, scope, false);
            }
            else if (reserved)
                throw Elf.Error($"symbol '{name}' has unsupported section index 0x{shndx:x}");
            else if (_blocks[shndx] is { } block)
            {
                if (s.Value > block.Size) throw Elf.Error($"symbol '{name}' lies outside its section {Elf.SectionName(shndx)}");
                sym = Symbol.Defined(name, block, s.Value, s.Size, linkage, scope, type == ElfAbi.SttFunc);
            }
            else continue; // defined in a section that is not loaded (debug info ...)
            sym.IsThreadLocal = type == ElfAbi.SttTls;
            sym.Origin = DisplayName;
            _symbols[i] = sym;
        }
    }

    /// <summary>Sequential step, in link order: drops COMDAT groups already provided by an earlier
    /// object, places this object's blocks into the graph and offers its globals to the symbol table.</summary>
    public void ResolveInto(LinkGraph graph, SymbolTable table, HashSet<string> comdatSignatures, CommonBlocks commons)
    {
        foreach (var (sig, groupSection) in _comdats)
        {
            if (comdatSignatures.Add(sig)) continue;
            var words = Elf.GroupWords(groupSection);
            for (int w = 1; w < words.Length; w++)
            {
                uint member = words[w];
                if (member >= _blocks.Length) throw Error(groupSection, $"group member index {member} is out of range");
                _blocks[member] = null;
            }
        }
        for (int i = 1; i < _blocks.Length; i++)
        {
            if (_blocks[i] is not { } b) continue;
            ref readonly var sh = ref Elf.Sections[i];
            var section = graph.GetOrCreateSection(_blockSectionKey[i]!, _backend.SectionProt(_blockSectionKey[i]!, sh.Flags));
            if ((sh.Flags & ElfAbi.ShfTls) != 0) section.IsThreadLocal = true;
            b.Section = section;
            section.Blocks.Add(b);
        }
        foreach (var s in _symbols)
            if (s is { Scope: SymbolScope.Local, Kind: SymbolKind.Defined, Name.Length: > 0 } && s.Block!.Section is not null) graph.LocalSymbols.Add(s);

        var syms = Elf.Symbols;
        for (int i = Elf.FirstGlobalSymbol; i < syms.Length; i++)
        {
            ref readonly var s = ref syms[i];
            if (s.Binding == ElfAbi.StbLocal) continue;
            var own = _symbols[i];
            if (own is { Name: null or "" }) continue; // an anonymous section symbol, whatever its binding
            if (own is { Kind: SymbolKind.Defined } d && d.Block!.Section is null && d.Block.SourceSection != "COMMON")
                own = null; // its section was discarded with a COMDAT group: it resolves to the kept copy
            if (own is { Kind: SymbolKind.Defined } d2 && d2.Block!.SourceSection == "COMMON")
            {
                table.AddCommon(d2);
                continue;
            }
            if (own is null)
            {
                string name = Elf.SymbolName(s);
                if (name.Length == 0) continue;
                table.AddReference(name, s.Binding == ElfAbi.StbWeak ? Linkage.Weak : Linkage.Strong, DisplayName);
                _symbols[i] = table.Find(name); // for its name: BuildEdges binds the final winner

            }
            else table.AddDefinition(own);
        }
        commons.Track(this);
    }

    internal IEnumerable<Symbol> CommonSymbols()
    {
        foreach (var s in _symbols)
            if (s is { Kind: SymbolKind.Defined } d && d.Block!.SourceSection == "COMMON") yield return d;
    }

    /// <summary>Parallel step: every relocation of every loaded section becomes an edge. Global symbols
    /// are bound by name to the table's winner; the table is only read here.</summary>
    public void BuildEdges(SymbolTable table, Symbol absoluteZero)
    {
        var syms = Elf.Symbols;
        for (int i = Elf.FirstGlobalSymbol; i < syms.Length; i++)
        {
            if (syms[i].Binding == ElfAbi.StbLocal) continue;
            // The name string exists already (ResolveInto kept a symbol of that name): no second copy.
            string name = _symbols[i]?.Name ?? Elf.SymbolName(syms[i]);
            if (name.Length > 0 && table.TryGet(name, out var winner)) _symbols[i] = winner;
        }

        var sections = Elf.Sections;
        for (int r = 1; r < sections.Length; r++)
        {
            ref readonly var rsh = ref sections[r];
            if (rsh.Type == ElfAbi.ShtRel)
            {
                if (rsh.Info < _blocks.Length && _blocks[rsh.Info] is not null)
                    throw Error(r, "SHT_REL relocations (without addends) are not supported for this target");
                continue;
            }
            if (rsh.Type != ElfAbi.ShtRela) continue;
            if (rsh.Info == 0 || rsh.Info >= _blocks.Length) throw Error(r, $"relocation section targets bad section index {rsh.Info}");
            if (_blocks[rsh.Info] is not { } block) continue;
            if (rsh.Link != Elf.SymtabIndex) throw Error(r, "relocation section does not use the object's symbol table");
            var relas = Elf.Relocations(r);
            Func<uint, int>? remap = block.SourceSection == ".eh_frame" ? PruneEhFrame(block, relas, (int)rsh.Info) : null;
            int section = (int)rsh.Info;
            block.Edges.Capacity = block.Edges.Count + relas.Length;
            foreach (ref readonly var rel in relas)
            {
                ulong relOffset = rel.Offset;
                if (remap is not null)
                {
                    int mapped = remap((uint)relOffset);
                    if (mapped < 0) continue; // in an FDE of a discarded function
                    relOffset = (uint)mapped;
                }
                if (TryMakeEdge(rel, relOffset, block, section, absoluteZero, out var edge)) block.Edges.Add(edge);
            }
        }
    }

    /// <summary>One relocation as an edge, validated; false for R_*_NONE.</summary>
    bool TryMakeEdge(in Elf64Rela rel, ulong relOffset, Block block, int section, Symbol absoluteZero, out Edge edge)
    {
        edge = default;
        uint type = rel.Type;
        if (_backend.IsNoneRelocation(type)) return false;
        uint symIndex = rel.SymbolIndex;
        if (symIndex >= (uint)_symbols.Length)
            throw Error(section, $"offset 0x{rel.Offset:x}: relocation refers to bad symbol index {symIndex}");
        var target = symIndex == 0 ? absoluteZero : _symbols[symIndex];
        if (target is null || (target.Kind == SymbolKind.Defined && target.Block!.Section is null))
        {
            ref readonly var es = ref Elf.Symbols[(int)symIndex];
            string tname = es.Type == ElfAbi.SttSection ? Elf.SectionName(Elf.SymbolSectionIndex((int)symIndex, es)) : Elf.SymbolName(es);
            throw Error(section, $"offset 0x{rel.Offset:x}: relocation against '{tname}', which is in a section that is not loaded or was discarded");
        }
        if (!_backend.TryMapRelocation(type, out ushort kind, out int width))
            throw Error(section, $"offset 0x{rel.Offset:x}: unsupported relocation type {_backend.RelocationName(type)} against '{target.DisplayName}'");
        if (relOffset > block.Size || block.Size - relOffset < (ulong)width || rel.Offset > uint.MaxValue)
            throw Error(section, $"offset 0x{rel.Offset:x}: {_backend.RelocationName(type)} against '{target.DisplayName}' is outside the section");
        // Names defined outside the link are checked once all edges exist (LinkUnitBuilder.Complete).
        if (_backend.RequiresThreadLocalTarget(kind) is { } needsTls && needsTls != target.IsThreadLocal && target.Kind != SymbolKind.External)
            throw ThreadLocalMismatch(section, rel.Offset, type, target, needsTls);
        edge = new Edge(kind, (uint)relOffset, target, rel.Addend);
        return true;
    }

    LinkError ThreadLocalMismatch(int section, ulong offset, uint type, Symbol target, bool needsTls)
    {
        string where = $"offset 0x{offset:x}: {_backend.RelocationName(type)} against '{target.DisplayName}'";
        if (!needsTls) return Error(section, $"{where}: the symbol is thread-local, so only a TLS relocation can refer to it");
        return Error(section, $"{where}: TLS relocation against a symbol that is not thread-local");
    }

    /// <summary>Drops FDEs that refer to discarded sections; returns the offset map if anything moved.</summary>
    Func<uint, int>? PruneEhFrame(Block block, ReadOnlySpan<Elf64Rela> relas, int section)
    {
        var data = block.Content.Span;
        var records = EhFramePruner.Records(data, $"{DisplayName}: section .eh_frame");
        bool[]? dead = null;
        foreach (ref readonly var rel in relas)
        {
            uint symIndex = rel.SymbolIndex;
            if (symIndex == 0 || symIndex >= (uint)_symbols.Length) continue;
            var target = _symbols[symIndex];
            if (target is not null && !(target.Kind == SymbolKind.Defined && target.Block!.Section is null)) continue;
            ulong at = rel.Offset;
            int rec = records.FindIndex(x => at >= (ulong)x.Start && at < (ulong)x.End);
            if (rec < 0) throw Error(section, $"offset 0x{rel.Offset:x}: relocation outside every .eh_frame record");
            if (records[rec].IsCie) throw Error(section, "a CIE refers to a discarded section");
            (dead ??= new bool[records.Count])[rec] = true;
        }
        if (dead is null) return null;
        var (content, map) = EhFramePruner.Prune(data, records, dead);
        block.Content = content;
        block.Size = (ulong)content.Length;
        return map;
    }
}

/// <summary>Tracks which objects hold common symbols so the merged common blocks can be placed once.</summary>
public sealed class CommonBlocks
{
    readonly List<ElfObjectUnit> _units = new();
    public void Track(ElfObjectUnit unit) => _units.Add(unit);

    /// <summary>Places every common symbol that won resolution into a zero-fill ".bss" section block.</summary>
    public void Place(LinkGraph graph, SymbolTable table)
    {
        Section? bss = null;
        foreach (var u in _units)
            foreach (var s in u.CommonSymbols())
            {
                if (!ReferenceEquals(table.Find(s.Name!), s) || s.Block!.Section is not null) continue;
                bss ??= graph.GetOrCreateSection(".bss", MemProt.Read | MemProt.Write);
                s.Block.Section = bss;
                s.Size = s.Block.Size;
                bss.Blocks.Add(s.Block);
            }
    }
}
