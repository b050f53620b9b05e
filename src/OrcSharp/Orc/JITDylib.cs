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
/// turns. Code run under the lock (initializers) may call back into it from the same thread.
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
    public void DefineAbsolute(string name, ExecutorAddr address) { lock (_lock) _symbols[name] = (address, SymbolScope.Default); }

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

    /// <summary>Links every pending object (plus the archive members they need) as one unit.</summary>
    public LinkedUnit Link()
    {
        lock (_lock) return LinkLocked();
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
        bool DefinedHere(string n) => _symbols.ContainsKey(n);
        builder.LoadArchiveMembers(_archives, DefinedHere);
        stats.ArchivesMs = sw.Elapsed.TotalMilliseconds; sw.Restart();
        builder.Complete();
        stats.EdgesMs = sw.Elapsed.TotalMilliseconds;

        var initFini = new InitFiniCollector();
        var plugins = _session.Platform.PluginsForLink(initFini, ImageName, builder.IsExportedToProcess, builder.Units);
        plugins.AddRange(_session.Plugins);
        var alloc = JitLinker.Link(builder.Graph, backend, _session.Executor.MemoryManager, ResolveExternals, plugins, stats, _session.Executor, _session.LinkOptions);

        var names = new Dictionary<string, (ExecutorAddr, SymbolScope)>(StringComparer.Ordinal);
        var threadLocals = new Dictionary<string, long>(StringComparer.Ordinal);
        var dso = builder.DsoHandle;
        foreach (var s in builder.Graph.DefinedSymbols)
        {
            if (s.IsThreadLocal && s.Name is { Length: > 0 } tn && s.Scope != SymbolScope.Local && builder.Graph.TlsModule is { } m)
                _threadLocals[tn] = threadLocals[tn] = m.ThreadPointerOffset + (long)s.Address.Value;
            if (!builder.IsVisibleToLaterLinks(s)) continue;
            _symbols[s.Name!] = names[s.Name!] = (s.Address, s.Scope);
        }
        var unit = new LinkedUnit
        {
            Owner = this, DsoHandle = dso?.Address ?? default, Definitions = names, ThreadLocals = threadLocals,
            Allocation = alloc, Initializers = initFini.Initializers, Finalizers = initFini.Finalizers, Stats = stats,
        };
        _units.Add(unit);
        return unit;
    }

    /// <summary>Externals resolve first to earlier links of this JITDylib, then to its shared libraries
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
            if (_symbols.TryGetValue(externals[i].Name!, out var d)) result[i] = d.Address;
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
        lock (_lock) return _symbols.TryGetValue(name, out var d) ? d.Address : null;
    }

    /// <summary>The shared libraries of the link order (a snapshot).</summary>
    public IReadOnlyList<ExecutorAddr> LibraryHandles { get { lock (_lock) return _libraries.ToArray(); } }

    /// <summary>Forgets everything linked (after the session freed it; the session holds the lock).</summary>
    internal void Clear()
    {
        _units.Clear();
        _symbols.Clear();
        _threadLocals.Clear();
        _pending.Clear();
    }

    /// <summary>Forgets one unit (after the session freed it; the session holds the lock): its names can be defined again. Where
    /// another unit also defines a name, the newest remaining definition is visible again.</summary>
    internal void Forget(LinkedUnit unit)
    {
        _units.Remove(unit);
        Unbind(_threadLocals, unit.ThreadLocals, u => u.ThreadLocals);
        Unbind(_symbols, unit.Definitions, u => u.Definitions);
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
