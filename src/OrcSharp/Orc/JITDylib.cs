using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Orc.Libraries;
using OrcSharp.Platform;
using OrcSharp.Shared;

namespace OrcSharp.Orc;

/// <summary>The result of one link, and the handle to remove it by (a resource tracker): its memory,
/// initializers and finalizers, its own __dso_handle and the names it defined.</summary>
public sealed class LinkedUnit
{
    public required JITDylib Owner { get; init; }
    public required ExecutorAddr DsoHandle { get; init; }
    /// <summary>The names this unit defined for later links and lookups.</summary>
    public required IReadOnlyDictionary<string, (ExecutorAddr Address, SymbolScope Scope)> Definitions { get; init; }
    /// <summary>The thread-locals it defined, by their offset from the thread pointer (the same in every thread).</summary>
    public required IReadOnlyDictionary<string, long> ThreadLocals { get; init; }
    public required FinalizedAlloc Allocation { get; init; }
    public required IReadOnlyList<ExecutorAddr> Initializers { get; init; }
    public required IReadOnlyList<ExecutorAddr> Finalizers { get; init; }
    public required LinkStats Stats { get; init; }
    /// <summary>Whether its initializers have run (so removal must run its finalizers).</summary>
    public bool Initialized { get; internal set; }
}

/// <summary>
/// A JIT'd "shared object": a symbol table filled by linking groups of objects, a link order of shared
/// libraries for process symbols, and static archives that supply members on demand.
/// Thread-safe: every member takes this JITDylib's lock for its whole duration (a link included), so
/// threads working on different JITDylibs of a session run in parallel and threads sharing one take
/// turns. Code run under the lock (initializers) may call back into it from the same thread. Its symbol
/// table has a lock of its own, held only to read or change the table, so a link of another JITDylib
/// that has this one in its link order reads it without waiting for (or deadlocking with) a link here.
/// </summary>
public sealed class JITDylib
{
    readonly object _lock = new();
    readonly ExecutionSession _session;
    readonly List<ObjectInput> _pending = new();
    readonly List<StaticArchive> _archives = new();
    readonly List<ExecutorAddr> _libraries = new();
    readonly HashSet<string> _loadedLibraryPaths = new(StringComparer.Ordinal);
    readonly Dictionary<string, (ExecutorAddr Address, SymbolScope Scope)> _symbols = new(StringComparer.Ordinal);
    readonly Dictionary<string, long> _threadLocals = new(StringComparer.Ordinal);
    readonly List<LinkedUnit> _units = new();
    /// <summary>Guards <see cref="_symbols"/> alone: writers hold the JITDylib's lock too; readers from
    /// other JITDylibs (link order) take only this one.</summary>
    readonly object _tableLock = new();
    /// <summary>The input of each strong definition of a unit, to name both inputs of a duplicate.</summary>
    readonly Dictionary<string, (string? Input, LinkedUnit Unit)> _strongDefinitions = new(StringComparer.Ordinal);
    readonly List<JITDylib> _linkOrder = new();
    /// <summary>The unit a <see cref="Replace"/> in progress replaces: its names are neither duplicates
    /// of the new unit's nor definitions the new unit may bind to.</summary>
    LinkedUnit? _replacing;

    internal JITDylib(ExecutionSession session, string name) { _session = session; Name = name; ImageName = name; }

    public string Name { get; }
    /// <summary>The name its links have as loaded images (dl_iterate_phdr's dlpi_name, dladdr's dli_fname).</summary>
    public string ImageName { get; set; }
    public ExecutionSession Session => _session;
    /// <summary>The __dso_handle of the first unit still linked (what a program's exit handlers use).</summary>
    public ExecutorAddr DsoHandle { get { lock (_lock) return _units.Count > 0 ? _units[0].DsoHandle : default; } }
    /// <summary>The units linked so far, oldest first (a snapshot).</summary>
    public IReadOnlyList<LinkedUnit> Units { get { lock (_lock) return _units.ToArray(); } }

    /// <summary>The lock every member takes; the session takes it to initialize and remove.</summary>
    internal object SyncRoot => _lock;
    /// <summary>Set when the session has removed this JITDylib: nothing can be linked into it any more.</summary>
    internal bool Removed { get; set; }

    public void AddObject(string name, ReadOnlyMemory<byte> bytes) { lock (_lock) _pending.Add(new ObjectInput(name, bytes)); }

    /// <summary>Defines a name at a fixed address (an absolute symbol, llvm-jitlink's -abs): references
    /// from later links resolve to it.</summary>
    public void DefineAbsolute(string name, ExecutorAddr address) { lock (_lock) lock (_tableLock) _symbols[name] = (address, SymbolScope.Default); }

    /// <summary>Lets links of this JITDylib bind to the default-visibility definitions of
    /// <paramref name="other"/> (LLVM's JITDylib::addToLinkOrder): searched after this JITDylib's own
    /// definitions, before its shared libraries, in the order added. Hidden definitions stay private to
    /// their JITDylib, as in a shared object; thread-locals are bound within one JITDylib only.</summary>
    public void AddToLinkOrder(JITDylib other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Session != Session) throw new LinkError($"JITDylib '{other.Name}' belongs to another session");
        if (ReferenceEquals(other, this)) throw new LinkError($"JITDylib '{Name}' cannot be in its own link order");
        lock (_lock) if (!_linkOrder.Contains(other)) _linkOrder.Add(other);
    }

    /// <summary>The JITDylibs whose definitions links of this one may bind to, in search order (a snapshot).</summary>
    public IReadOnlyList<JITDylib> LinkOrder { get { lock (_lock) return _linkOrder.ToArray(); } }

    /// <summary>A default-visibility definition of JIT'd code (or an absolute symbol) here, as another
    /// JITDylib's link sees it.</summary>
    internal ExecutorAddr? LookupExported(string name)
    {
        lock (_tableLock) return _symbols.TryGetValue(name, out var d) && d.Scope == SymbolScope.Default ? d.Address : null;
    }

    ExecutorAddr? LookupInLinkOrder(string name)
    {
        foreach (var jd in _linkOrder)
            if (!jd.Removed && jd.LookupExported(name) is { } a) return a;
        return null;
    }

    /// <summary>Resolve every name found nowhere to address 0 instead of failing the link
    /// (llvm-jitlink's -phony-externals), for links that will not run.</summary>
    public bool PhonyExternals { get; set; }
    public void AddArchive(StaticArchive archive) { lock (_lock) _archives.Add(archive); }

    /// <summary>Loads a shared library into the executor and appends it to the link order. An as-needed
    /// library (AS_NEEDED in an ld script) is loaded only when a link needs a symbol nothing else has.</summary>
    public void AddSharedLibrary(string path, bool asNeeded = false)
    {
        lock (_lock) AddSharedLibraryLocked(path, asNeeded);
    }

    void AddSharedLibraryLocked(string path, bool asNeeded)
    {
        if (asNeeded) { if (!_loadedLibraryPaths.Contains(path) && !_asNeeded.Contains(path)) _asNeeded.Add(path); return; }
        _asNeeded.Remove(path);
        if (_loadedLibraryPaths.Add(path)) _libraries.Add(_session.Executor.LoadDylib(path));
    }

    readonly List<string> _asNeeded = new();

    public bool HasPendingObjects { get { lock (_lock) return _pending.Count > 0; } }

    /// <summary>Whether pending objects came from C++ (they reference the C++ runtime), so the
    /// libraries g++ adds are needed. A byte search of the symbol string tables is enough and costs
    /// microseconds (the rest of a large object is not even paged in).</summary>
    public bool PendingObjectsLookLikeCxx()
    {
        lock (_lock)
        {
            foreach (var o in _pending)
            {
                var b = ObjectFile.Elf.ElfObjectFile.SymbolStringTable(o.Bytes.Span);
                if (b.IndexOf("__gxx_personality_v0"u8) >= 0 || b.IndexOf("\0_ZSt"u8) >= 0 || b.IndexOf("\0_ZNSt"u8) >= 0 ||
                    b.IndexOf("\0__cxa_"u8) >= 0 || b.IndexOf("\0_ZdlPv"u8) >= 0 || b.IndexOf("\0_Znwm"u8) >= 0)
                    return true;
            }
            return false;
        }
    }

    /// <summary>Links every pending object (plus the archive members they need) as one unit. A strong
    /// definition of a name that an earlier unit also defines strongly is a
    /// <see cref="DuplicateSymbolException"/> naming both inputs (nothing is linked).</summary>
    public LinkedUnit Link()
    {
        lock (_lock) return LinkLocked();
    }

    /// <summary>
    /// Replaces <paramref name="unit"/> with a unit linked from <paramref name="objects"/> (hot reload):
    /// the new unit is linked first, its names taking the place of the old unit's (which it may define
    /// again, and never binds to); then <paramref name="beforeRemoval"/> runs, the moment to point callers at
    /// the new code; then the old unit is removed as <see cref="ExecutionSession.RemoveUnit"/> removes
    /// it (finalizers and atexit handlers if it was initialized, memory freed). Objects added before and not
    /// yet linked are linked into the new unit too. If the link fails, the old unit stays as it was.
    /// If the old unit was initialized, the new one is initialized before <paramref name="beforeRemoval"/>.
    /// </summary>
    public LinkedUnit Replace(LinkedUnit unit, IEnumerable<ObjectInput> objects, Action<LinkedUnit>? beforeRemoval = null)
    {
        ArgumentNullException.ThrowIfNull(unit);
        lock (_lock)
        {
            if (Removed || !_units.Contains(unit)) throw new LinkError($"link unit is not part of JITDylib '{Name}'");
            _pending.AddRange(objects);
            LinkedUnit linked;
            _replacing = unit;
            try { linked = LinkLocked(); }
            finally { _replacing = null; }
            if (unit.Initialized) _session.Initialize(this);
            beforeRemoval?.Invoke(linked);
            _session.RemoveUnit(unit);
            return linked;
        }
    }

    LinkedUnit LinkLocked()
    {
        if (Removed) throw new LinkError($"JITDylib '{Name}' was removed from its session");
        var builder = new LinkUnitBuilder(Name, _session.Backend);
        var inputs = _pending.ToArray();
        _pending.Clear();
        try { return Link(builder, inputs); }
        finally
        {
            // The objects' bytes are in executor memory now (or the link failed): unmap them at once
            // rather than when the collector gets to it, so a long-lived host does not pile up mappings.
            foreach (var o in inputs)
                if (System.Runtime.InteropServices.MemoryMarshal.TryGetMemoryManager<byte, MappedFile>(o.Bytes, out var mapped))
                    ((IDisposable)mapped).Dispose();
        }
    }

    LinkedUnit Link(LinkUnitBuilder builder, ObjectInput[] inputs)
    {
        var backend = _session.Backend;
        var stats = new LinkStats();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        builder.AddObjects(inputs);
        stats.ParseMs = sw.Elapsed.TotalMilliseconds; sw.Restart();
        bool DefinedHere(string n) => BoundHere(n) is not null || LookupInLinkOrder(n) is not null;
        builder.LoadArchiveMembers(_archives, DefinedHere);
        stats.ArchivesMs = sw.Elapsed.TotalMilliseconds; sw.Restart();
        builder.Complete();
        stats.EdgesMs = sw.Elapsed.TotalMilliseconds;

        var initFini = new InitFiniCollector();
        var plugins = _session.Platform.PluginsForLink(initFini, ImageName, builder.IsExportedToProcess, builder.Units);
        plugins.AddRange(_session.Plugins);
        var strong = StrongDefinitions(builder);
        var alloc = JitLinker.Link(builder.Graph, backend, _session.Executor.MemoryManager, ResolveExternals, plugins, stats, _session.Executor, _session.LinkOptions);

        var names = new Dictionary<string, (ExecutorAddr, SymbolScope)>(StringComparer.Ordinal);
        var threadLocals = new Dictionary<string, long>(StringComparer.Ordinal);
        var dso = builder.DsoHandle;
        foreach (var s in builder.Graph.DefinedSymbols)
        {
            if (s.IsThreadLocal && s.Name is { Length: > 0 } tn && s.Scope != SymbolScope.Local && builder.Graph.TlsModule is { } m)
                _threadLocals[tn] = threadLocals[tn] = m.ThreadPointerOffset + (long)s.Address.Value;
            if (!builder.IsVisibleToLaterLinks(s)) continue;
            names[s.Name!] = (s.Address, s.Scope);
        }
        var unit = new LinkedUnit
        {
            Owner = this, DsoHandle = dso?.Address ?? default, Definitions = names, ThreadLocals = threadLocals,
            Allocation = alloc, Initializers = initFini.Initializers, Finalizers = initFini.Finalizers, Stats = stats,
        };
        lock (_tableLock) foreach (var (n, d) in names) _symbols[n] = d;
        foreach (var (n, input) in strong) _strongDefinitions[n] = (input, unit);
        _units.Add(unit);
        return unit;
    }

    /// <summary>The strong definitions later links will see, by name and input; one that an earlier unit
    /// (other than the one being replaced) also defines strongly is an error, before anything is allocated.</summary>
    List<(string Name, string? Input)> StrongDefinitions(LinkUnitBuilder builder)
    {
        var strong = new List<(string, string?)>();
        foreach (var s in builder.Graph.DefinedSymbols)
        {
            // Linker-defined symbols (_GLOBAL_OFFSET_TABLE_, __start_/__stop_) are each unit's own.
            if (s.Linkage != Linkage.Strong || !builder.IsVisibleToLaterLinks(s) || s.Origin is null or "<linker>") continue;
            if (_strongDefinitions.TryGetValue(s.Name!, out var earlier) && !ReferenceEquals(earlier.Unit, _replacing))
                throw new DuplicateSymbolException(s.Name!, earlier.Input, s.Origin,
                    $"duplicate symbol '{s.Name}': defined in {earlier.Input} and in {s.Origin} (JITDylib '{Name}'; replace a unit with Replace)");
            strong.Add((s.Name!, s.Origin));
        }
        return strong;
    }

    /// <summary>A definition of an earlier link (or an absolute symbol) a new link may bind to: not one
    /// of the unit being replaced.</summary>
    ExecutorAddr? BoundHere(string name)
    {
        if (!_symbols.TryGetValue(name, out var d)) return null;
        if (_replacing is { } old && old.Definitions.TryGetValue(name, out var mine) && mine == d) return null;
        return d.Address;
    }

    /// <summary>Externals resolve first to earlier links of this JITDylib, then to the JITDylibs of its
    /// link order, then to its shared libraries
    /// in link order (one batched executor lookup). A thread-local resolves to its offset from the thread
    /// pointer when JIT'd code defines it; the linker brings in those of shared libraries (by name, never
    /// with dlsym, which would pin a library's block in dynamic TLS), once the libraries are loaded.</summary>
    ExecutorAddr?[] ResolveExternals(IReadOnlyList<Symbol> externals)
    {
        var result = new ExecutorAddr?[externals.Count];
        var remoteNames = new List<string>();
        var remoteIndex = new List<int>();
        bool libraryThreadLocals = false;
        for (int i = 0; i < externals.Count; i++)
        {
            if (externals[i].IsThreadLocal)
            {
                if (_threadLocals.TryGetValue(externals[i].Name!, out long tp)) result[i] = new ExecutorAddr((ulong)tp);
                else libraryThreadLocals = true;
                continue;
            }
            if ((BoundHere(externals[i].Name!) ?? LookupInLinkOrder(externals[i].Name!)) is { } a) result[i] = a;
            else { remoteNames.Add(externals[i].Name!); remoteIndex.Add(i); }
        }
        // A remote executor loads libraries with the next lookup: make sure that happens.
        if (remoteNames.Count > 0 || libraryThreadLocals)
        {
            var found = _session.Executor.LookupSymbols(_libraries, remoteNames);
            for (int j = 0; j < found.Length; j++) result[remoteIndex[j]] = found[j];
        }
        // Names found nowhere may come from as-needed libraries: load those one at a time, in order.
        while (_asNeeded.Count > 0)
        {
            var missing = Enumerable.Range(0, externals.Count).Where(i => result[i] is null && !externals[i].IsThreadLocal).ToList();
            if (missing.Count == 0) break;
            string path = _asNeeded[0];
            _asNeeded.RemoveAt(0);
            var handle = _session.Executor.LoadDylib(path);
            var found = _session.Executor.LookupSymbols(new[] { handle }, missing.Select(i => externals[i].Name!).ToList());
            bool used = false;
            for (int j = 0; j < found.Length; j++)
                if (found[j] is { } a) { result[missing[j]] = a; used = true; }
            if (used && _loadedLibraryPaths.Add(path)) _libraries.Add(handle);
        }
        if (PhonyExternals)
            for (int i = 0; i < result.Length; i++) result[i] ??= default(ExecutorAddr);
        return result;
    }

    /// <summary>The address of a symbol defined by JIT'd code in this JITDylib (hidden ones included).</summary>
    public ExecutorAddr? Lookup(string name)
    {
        lock (_tableLock) return _symbols.TryGetValue(name, out var d) ? d.Address : null;
    }

    /// <summary>The shared libraries of the link order (a snapshot).</summary>
    public IReadOnlyList<ExecutorAddr> LibraryHandles { get { lock (_lock) return _libraries.ToArray(); } }

    /// <summary>Forgets everything linked (after the session freed it; the session holds the lock).</summary>
    internal void Clear()
    {
        _units.Clear();
        lock (_tableLock) _symbols.Clear();
        _strongDefinitions.Clear();
        _threadLocals.Clear();
        _pending.Clear();
    }

    /// <summary>Forgets one unit (after the session freed it; the session holds the lock): its names can be defined again. Where
    /// another unit also defines a name, the newest remaining definition is visible again.</summary>
    internal void Forget(LinkedUnit unit)
    {
        _units.Remove(unit);
        Unbind(_threadLocals, unit.ThreadLocals, u => u.ThreadLocals);
        lock (_tableLock) Unbind(_symbols, unit.Definitions, u => u.Definitions);
        foreach (var n in unit.Definitions.Keys)
            if (_strongDefinitions.TryGetValue(n, out var d) && ReferenceEquals(d.Unit, unit)) _strongDefinitions.Remove(n);
    }

    /// <summary>Takes the removed unit's names out of a name table, unless a newer unit rebound them;
    /// where a remaining unit defines the name, its newest definition is visible again.</summary>
    void Unbind<T>(Dictionary<string, T> table, IReadOnlyDictionary<string, T> removed, Func<LinkedUnit, IReadOnlyDictionary<string, T>> definedBy)
    {
        foreach (var (n, value) in removed)
        {
            if (!table.TryGetValue(n, out var current) || !EqualityComparer<T>.Default.Equals(current, value)) continue;
            var previous = _units.LastOrDefault(u => definedBy(u).ContainsKey(n));
            if (previous is null) table.Remove(n);
            else table[n] = definedBy(previous)[n];
        }
    }
}
