using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.Elf;

/// <summary>
/// One ELF relocatable object on its way into a link graph. Built in three steps so independent objects
/// can be processed in parallel: <see cref="Create"/> (parallel: blocks and local symbols),
/// <see cref="ResolveInto"/> (sequential, link order: COMDAT and global symbols),
/// <see cref="BuildEdges"/> (parallel: relocations to edges). Everything taken from the file is checked
/// here or in <see cref="ElfObjectFile"/> before it is used; a bad value is a <see cref="LinkError"/>
/// naming the object, section and offset.
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
    /// <summary>This object's common symbols (each with its own zero-fill block until placement), in
    /// symbol-table order so placement is the same on every run.</summary>
    readonly List<Symbol> _commons = new();
    readonly HashSet<Symbol> _isCommon = new(ReferenceEqualityComparer.Instance);
    readonly List<(string Signature, int GroupSection)> _comdats = new();
    readonly ILinkBackend _backend;

    /// <summary>Names the linker gives its own sections ("$__GOT", "$__STUBS" ...); an input section must
    /// not take one and be mistaken for them.</summary>
    const string LinkerSectionPrefix = "$__";
    const string EhFrameName = ".eh_frame";

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
                // Members are checked here, not only when a duplicate group is dropped: a bad index is a
                // malformed object whether or not this link happens to drop the group.
                for (int w = 1; w < words.Length; w++)
                    if (words[w] == 0 || words[w] >= (uint)sections.Length || words[w] == i) throw Error(i, $"group member index {words[w]} is out of range");
                if ((words[0] & ElfAbi.GrpComdat) != 0)
                {
                    if (sh.Link != Elf.SymtabIndex || sh.Info == 0 || sh.Info >= Elf.SymbolCount) throw Error(i, "section group has a bad signature symbol");
                    // A group whose signature is a section symbol is named after that section.
                    _comdats.Add((Elf.SymbolDisplayName((int)sh.Info), i));
                }
                continue;
            }
            if ((sh.Flags & ElfAbi.ShfAlloc) == 0 || (sh.Flags & ElfAbi.ShfExclude) != 0 || sh.Type == ElfAbi.ShtNull) continue;
            string name = Elf.SectionName(i);
            if (!_backend.ShouldLoadSection(name, sh)) continue;
            if (name.StartsWith(LinkerSectionPrefix, StringComparison.Ordinal)) throw Error(i, $"section names starting with {LinkerSectionPrefix} are reserved for the linker");
            if ((sh.Flags & ElfAbi.ShfWrite) != 0 && (sh.Flags & ElfAbi.ShfExecInstr) != 0)
                throw Error(i, "is both writable and executable");
            if ((sh.Flags & ElfAbi.ShfTls) != 0 && !IsThreadLocalData(name, sh))
                throw Error(i, "is marked thread-local (SHF_TLS) but is not thread-local data");
            bool zeroFill = sh.Type == ElfAbi.ShtNobits;
            // .eh_frame records are 4-byte aligned and the unwinder walks the section's blocks as one run:
            // padding to a larger alignment between two objects' blocks would read as a terminator.
            ulong align = name == EhFrameName ? 4 : Math.Max(1, sh.AddrAlign);
            _blocks[i] = new Block(null!, zeroFill ? default : Elf.SectionMemory(i), sh.Size, align, zeroFill, DisplayName, name);
            _blockSectionKey[i] = name;
        }
    }

    /// <summary>What SHF_TLS may mark: writable data or zero-fill, never code, unwind tables or the
    /// init/fini arrays (those are read where the program is laid out, not per thread).</summary>
    static bool IsThreadLocalData(string name, in Elf64SectionHeader sh) =>
        sh.Type is ElfAbi.ShtProgbits or ElfAbi.ShtNobits && (sh.Flags & ElfAbi.ShfExecInstr) == 0 && name != EhFrameName &&
        !name.StartsWith(".init_array", StringComparison.Ordinal) && !name.StartsWith(".fini_array", StringComparison.Ordinal) &&
        !name.StartsWith(".preinit_array", StringComparison.Ordinal) && !name.StartsWith(".ctors", StringComparison.Ordinal) &&
        !name.StartsWith(".dtors", StringComparison.Ordinal);

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
            bool reserved = ElfObjectFile.HasReservedIndex(s);
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
            string name = local && shndx == ElfAbi.ShnUndef ? "" : Elf.SymbolName(s);
            var scope = local ? SymbolScope.Local : s.Visibility is ElfAbi.StvHidden or ElfAbi.StvInternal ? SymbolScope.Hidden : SymbolScope.Default;
            var linkage = s.Binding == ElfAbi.StbWeak || s.Binding == ElfAbi.StbGnuUnique ? Linkage.Weak : Linkage.Strong;
            if (!local && s.Binding is not (ElfAbi.StbGlobal or ElfAbi.StbWeak or ElfAbi.StbGnuUnique))
                throw Elf.Error($"symbol '{name}' has unsupported binding {s.Binding}");
            Symbol? sym;
            bool threadLocal = type == ElfAbi.SttTls;
            if (shndx == ElfAbi.ShnUndef) continue; // bound to the resolved symbol by name later
            if (reserved && shndx == ElfAbi.ShnAbs)
                sym = Symbol.Absolute(name, s.Value, scope);
            else if (reserved && shndx == ElfAbi.ShnCommon)
            {
                if (local) throw Elf.Error($"local symbol '{name}' is common");
                if (threadLocal) throw Elf.Error($"thread-local common symbol '{name}' is not supported (build with -fno-common)");
                ulong align = Math.Max(1, s.Value);
                if ((align & (align - 1)) != 0) throw Elf.Error($"common symbol '{name}' has alignment {align}, not a power of two");
                if (align > LinkLimits.MaxAlignment)
                    throw Elf.Error($"common symbol '{name}' asks for alignment {align}, more than the {LinkLimits.Describe(LinkLimits.MaxAlignment)} limit");
                if (s.Size > LinkLimits.MaxImageBytes)
                    throw Elf.Error($"common symbol '{name}' has size {s.Size}, more than the {LinkLimits.Describe(LinkLimits.MaxImageBytes)} limit");
                var block = new Block(null!, default, s.Size, align, true, DisplayName, "COMMON");
                sym = Symbol.Defined(name, block, 0, s.Size, Linkage.Strong, scope, false);
                _commons.Add(sym);
                _isCommon.Add(sym);
            }
            else if (reserved)
                throw Elf.Error($"symbol '{name}' has unsupported section index 0x{shndx:x}");
            else if (_blocks[shndx] is { } block)
            {
                if (s.Value > block.Size) throw Elf.Error($"symbol '{name}' lies outside its section {Elf.SectionName(shndx)}");
                // The section decides: an address in a TLS section is an offset in the TLS block.
                bool tlsSection = (Elf.Sections[shndx].Flags & ElfAbi.ShfTls) != 0;
                if (threadLocal && !tlsSection)
                    throw Elf.Error($"thread-local symbol '{name}' is defined in {Elf.SectionName(shndx)}, which is not a thread-local section");
                threadLocal = tlsSection;
                sym = Symbol.Defined(name, block, s.Value, s.Size, linkage, scope, type == ElfAbi.SttFunc);
            }
            else continue; // defined in a section that is not loaded (debug info ...)
            sym.IsThreadLocal = threadLocal;
            sym.IsIndirectFunction = type == ElfAbi.SttGnuIfunc; // resolved by Platform/IndirectFunctions
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
            for (int w = 1; w < words.Length; w++) _blocks[words[w]] = null; // in range: checked by CreateBlocks
        }
        for (int i = 1; i < _blocks.Length; i++)
        {
            if (_blocks[i] is not { } b) continue;
            ref readonly var sh = ref Elf.Sections[i];
            var prot = _backend.SectionProt(_blockSectionKey[i]!, sh.Flags);
            bool tls = (sh.Flags & ElfAbi.ShfTls) != 0;
            var section = graph.GetOrCreateSection(_blockSectionKey[i]!, prot);
            if (section.Blocks.Count == 0) section.IsThreadLocal = tls;
            else if (section.IsThreadLocal != tls)
                throw Error(i, $"is thread-local here but not in {section.Blocks[0].SourceFile} (or the other way round)");
            // Same-named sections merge as a native link merges them, with the permissions of both.
            if ((section.Prot | prot) != section.Prot)
            {
                if (((section.Prot | prot) & (MemProt.Write | MemProt.Exec)) == (MemProt.Write | MemProt.Exec))
                    throw Error(i, $"is executable in one object and writable in another ({section.Blocks[0].SourceFile})");
                section.Prot |= prot;
            }
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
            if (own is not null && _isCommon.Contains(own))
            {
                table.AddCommon(own);
                continue;
            }
            if (own is { Kind: SymbolKind.Defined } d && d.Block!.Section is null)
                own = null; // its section was discarded with a COMDAT group: it resolves to the kept copy
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

    /// <summary>The block a section of this object became, or null when it is not loaded (debug info,
    /// notes) or was discarded with a COMDAT group. Read by the debug-object builder.</summary>
    internal Block? LoadedBlock(int section) => (uint)section < (uint)_blocks.Length ? _blocks[section] : null;

    internal IEnumerable<Symbol> CommonSymbols() => _commons;

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
        var ehFrameMaps = PruneEhFrames();
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
            int section = (int)rsh.Info;
            Func<ulong, long>? remap = ehFrameMaps?.GetValueOrDefault(section);
            block.Edges.Capacity = block.Edges.Count + relas.Length;
            foreach (ref readonly var rel in relas)
            {
                ulong relOffset = rel.Offset;
                if (remap is not null)
                {
                    long mapped = remap(relOffset);
                    if (mapped < 0) continue; // in a record that was dropped (an FDE of a discarded function)
                    relOffset = (ulong)mapped;
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
        if (symIndex >= (uint)_symbols.Length && symIndex != 0)
            throw Error(section, $"offset 0x{rel.Offset:x}: relocation refers to bad symbol index {symIndex}");
        var target = symIndex == 0 ? absoluteZero : _symbols[symIndex];
        if (target is null || (target.Kind == SymbolKind.Defined && target.Block!.Section is null))
            throw Error(section, $"offset 0x{rel.Offset:x}: relocation against '{Elf.SymbolDisplayName((int)symIndex)}', which is in a section that is not loaded or was discarded");
        if (!_backend.TryMapRelocation(type, out ushort kind, out int width))
            throw Error(section, $"offset 0x{rel.Offset:x}: unsupported relocation type {_backend.RelocationName(type)} against '{target.DisplayName}'");
        if (block.IsZeroFill)
            throw Error(section, $"offset 0x{rel.Offset:x}: {_backend.RelocationName(type)} in a section without content (SHT_NOBITS)");
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

    /// <summary>
    /// Validates each loaded .eh_frame and keeps the FDEs of kept code only, as a native linker does: an
    /// FDE lives when its pc_begin relocation names a section of this object that is loaded and was not
    /// discarded with a COMDAT group (or a symbol defined elsewhere). The decision uses this object's own
    /// symbol table, not the name's winner: an FDE of a discarded copy must not come back to describe the
    /// kept copy in another object. Terminators are dropped too; the platform ends the section once.
    /// Returns the offset maps of the sections that changed (null if none did).
    /// </summary>
    Dictionary<int, Func<ulong, long>>? PruneEhFrames()
    {
        Dictionary<int, Func<ulong, long>>? maps = null;
        Dictionary<int, List<int>>? ehFrames = null; // .eh_frame section -> its relocation sections
        for (int i = 1; i < _blocks.Length; i++)
            if (_blocks[i] is { SourceSection: EhFrameName }) (ehFrames ??= new())[i] = new();
        if (ehFrames is null) return null;
        var sections = Elf.Sections;
        for (int r = 1; r < sections.Length; r++)
            if (sections[r].Type == ElfAbi.ShtRela && sections[r].Link == Elf.SymtabIndex && sections[r].Info < (uint)sections.Length &&
                ehFrames.TryGetValue((int)sections[r].Info, out var relaSections))
                relaSections.Add(r);
        foreach (var (i, relaSections) in ehFrames)
        {
            var block = _blocks[i]!;
            string where = $"{DisplayName}: section {EhFrameName}";
            if (block.IsZeroFill) throw new LinkError($"{where}: has no content (SHT_NOBITS)");
            var data = block.Content.Span;
            var records = EhFrameSection.Parse(data, where);
            var live = new bool[records.Count];
            for (int k = 0; k < records.Count; k++) live[k] = records[k].Kind == EhFrameRecordKind.Cie;
            foreach (int r in relaSections)
                foreach (ref readonly var rel in Elf.Relocations(r))
                {
                    int rec = EhFrameSection.Find(records, rel.Offset);
                    if (rec < 0) throw new LinkError($"{where}: offset 0x{rel.Offset:x}: relocation outside every .eh_frame record");
                    if (records[rec].Kind == EhFrameRecordKind.Fde && rel.Offset == (ulong)(records[rec].Start + EhFrameSection.PcBeginOffset))
                        live[rec] = IsLiveCode(rel.SymbolIndex);
                }
            bool changed = false;
            var dead = new bool[records.Count];
            for (int k = 0; k < records.Count; k++) changed |= dead[k] = !live[k];
            if (!changed) continue;
            var (content, map) = EhFrameSection.Prune(data, records, dead, where);
            block.Content = content;
            block.Size = (ulong)content.Length;
            (maps ??= new())[i] = map;
        }
        return maps;
    }

    /// <summary>Whether a pc_begin relocation's symbol is code that stays in the link.</summary>
    bool IsLiveCode(uint symIndex)
    {
        if (symIndex == 0 || symIndex >= (uint)_symbols.Length) return true; // an error later, when its edge is made
        ref readonly var s = ref Elf.Symbols[(int)symIndex];
        if (ElfObjectFile.HasReservedIndex(s)) return true;
        int shndx = Elf.SymbolSectionIndex((int)symIndex, s);
        if (shndx == ElfAbi.ShnUndef) return _symbols[symIndex] is not null; // defined elsewhere, if anywhere
        return _blocks[shndx] is not null;
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
