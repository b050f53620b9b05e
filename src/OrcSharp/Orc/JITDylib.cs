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
/// </summary>
public sealed class JITDylib
{
    readonly ExecutionSession _session;
    readonly List<ObjectInput> _pending = new();
    readonly List<StaticArchive> _archives = new();
    readonly List<ExecutorAddr> _libraries = new();
    readonly HashSet<string> _loadedLibraryPaths = new(StringComparer.Ordinal);
    readonly Dictionary<string, (ExecutorAddr Address, SymbolScope Scope)> _symbols = new(StringComparer.Ordinal);
    readonly Dictionary<string, long> _threadLocals = new(StringComparer.Ordinal);
    readonly List<LinkedUnit> _units = new();

    internal JITDylib(ExecutionSession session, string name) { _session = session; Name = name; }

    public string Name { get; }
    public ExecutionSession Session => _session;
    /// <summary>The __dso_handle of the first unit still linked (what a program's exit handlers use).</summary>
    public ExecutorAddr DsoHandle => _units.Count > 0 ? _units[0].DsoHandle : default;
    public IReadOnlyList<LinkedUnit> Units => _units;

    public void AddObject(string name, ReadOnlyMemory<byte> bytes) => _pending.Add(new ObjectInput(name, bytes));

    /// <summary>Defines a name at a fixed address (an absolute symbol, llvm-jitlink's -abs): references
    /// from later links resolve to it.</summary>
    public void DefineAbsolute(string name, ExecutorAddr address) => _symbols[name] = (address, SymbolScope.Default);

    /// <summary>Resolve every name found nowhere to address 0 instead of failing the link
    /// (llvm-jitlink's -phony-externals), for links that will not run.</summary>
    public bool PhonyExternals { get; set; }
    public void AddArchive(StaticArchive archive) => _archives.Add(archive);

    /// <summary>Loads a shared library into the executor and appends it to the link order. An as-needed
    /// library (AS_NEEDED in an ld script) is loaded only when a link needs a symbol nothing else has.</summary>
    public void AddSharedLibrary(string path, bool asNeeded = false)
    {
        if (asNeeded) { if (!_loadedLibraryPaths.Contains(path) && !_asNeeded.Contains(path)) _asNeeded.Add(path); return; }
        _asNeeded.Remove(path);
        if (_loadedLibraryPaths.Add(path)) _libraries.Add(_session.Executor.LoadDylib(path));
    }

    readonly List<string> _asNeeded = new();

    public bool HasPendingObjects => _pending.Count > 0;

    /// <summary>Whether pending objects came from C++ (they reference the C++ runtime), so the
    /// libraries g++ adds are needed. A byte search of the symbol string tables is enough and costs
    /// microseconds (the rest of a large object is not even paged in).</summary>
    public bool PendingObjectsLookLikeCxx()
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

    /// <summary>Links every pending object (plus the archive members they need) as one unit.</summary>
    public LinkedUnit Link()
    {
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
        var plugins = _session.Platform.PluginsForLink(initFini, builder.Units);
        plugins.AddRange(_session.Plugins);
        var alloc = JitLinker.Link(builder.Graph, backend, _session.Executor.MemoryManager, ResolveExternals, plugins, stats, _session.Executor, _session.LinkOptions);

        var names = new Dictionary<string, (ExecutorAddr, SymbolScope)>(StringComparer.Ordinal);
        var threadLocals = new Dictionary<string, long>(StringComparer.Ordinal);
        var dso = builder.DsoHandle;
        foreach (var s in builder.Graph.DefinedSymbols)
        {
            if (s.IsThreadLocal && s.Name is { Length: > 0 } tn && s.Scope != SymbolScope.Local && builder.Graph.TlsModule is { } m)
                _threadLocals[tn] = threadLocals[tn] = m.ThreadPointerOffset + (long)s.Address.Value;
            // A thread-local's "address" is its offset in this link's TLS block, each unit's __dso_handle
            // is its own, and so are its copies of hidden archive members: none is visible to later links.
            if (s.Name is not { Length: > 0 } n || s.Scope == SymbolScope.Local || s.IsThreadLocal || ReferenceEquals(s, dso) ||
                builder.IsPrivateArchiveDefinition(s)) continue;
            _symbols[n] = names[n] = (s.Address, s.Scope);
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
    /// in link order (one batched executor lookup).</summary>
    ExecutorAddr?[] ResolveExternals(IReadOnlyList<Symbol> externals)
    {
        var result = new ExecutorAddr?[externals.Count];
        var remoteNames = new List<string>();
        var remoteIndex = new List<int>();
        for (int i = 0; i < externals.Count; i++)
        {
            // A thread-local resolves to its offset from the thread pointer, and only to JIT'd ones.
            if (externals[i].IsThreadLocal)
            {
                if (_threadLocals.TryGetValue(externals[i].Name!, out long tp)) result[i] = new ExecutorAddr((ulong)tp);
                continue;
            }
            if (_symbols.TryGetValue(externals[i].Name!, out var d)) result[i] = d.Address;
            else { remoteNames.Add(externals[i].Name!); remoteIndex.Add(i); }
        }
        if (remoteNames.Count > 0)
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
    public ExecutorAddr? Lookup(string name) => _symbols.TryGetValue(name, out var d) ? d.Address : null;

    public IReadOnlyList<ExecutorAddr> LibraryHandles => _libraries;

    /// <summary>Forgets everything linked (after the session freed it).</summary>
    internal void Clear()
    {
        _units.Clear();
        _symbols.Clear();
        _threadLocals.Clear();
        _pending.Clear();
    }

    /// <summary>Forgets one unit (after the session freed it): its names can be defined again. Where
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
