using OrcSharp.Executor;
using OrcSharp.JitLink;
using OrcSharp.JitLink.X86_64;
using OrcSharp.Platform;
using OrcSharp.Shared;

namespace OrcSharp.Orc;

/// <summary>
/// The root of a JIT session: the executor it targets, the backend for that target, and its JITDylibs.
/// Thread-safe, with one simple scheme: the list of JITDylibs has its own lock, held only to read or
/// change the list; everything else about a JITDylib (linking, lookup, initializing, removing) holds that
/// JITDylib's lock (<see cref="JITDylib"/>). The executor control and the memory manager lock their own
/// state and take no other lock, so no thread ever waits for a lock while holding one of another level.
/// Two threads linking into two JITDylibs run in parallel; configure <see cref="Plugins"/> before linking.
/// </summary>
public sealed class ExecutionSession : IDisposable
{
    readonly object _lock = new();
    readonly List<JITDylib> _dylibs = new();

    public ExecutionSession(IExecutorControl executor)
    {
        Executor = executor;
        Backend = executor.TargetTriple.StartsWith("x86_64", StringComparison.Ordinal) ? X86_64Backend.Instance
            : executor.TargetTriple.StartsWith("aarch64", StringComparison.Ordinal) ? JitLink.AArch64.AArch64Backend.Instance
            : throw new LinkError($"no JIT-link backend for target {executor.TargetTriple}");
        Platform = new ElfLinuxPlatform(executor, Backend);
    }

    /// <summary>The platform whose passes every link gets (init/fini, copy relocations, eh-frame ...).</summary>
    public ElfLinuxPlatform Platform { get; }

    public IExecutorControl Executor { get; }
    /// <summary>How every link treats unreferenced blocks and absolute targets (OrcSharp's defaults, or
    /// LLVM JITLink's).</summary>
    public LinkOptions LinkOptions { get; set; } = LinkOptions.Default;
    public ILinkBackend Backend { get; }
    /// <summary>Extra passes added to every link (platform support, instrumentation).</summary>
    public List<ILinkPlugin> Plugins { get; } = new();
    /// <summary>The JITDylibs of this session (a snapshot).</summary>
    public IReadOnlyList<JITDylib> JITDylibs { get { lock (_lock) return _dylibs.ToArray(); } }

    public JITDylib CreateJITDylib(string name)
    {
        var jd = new JITDylib(this, name);
        lock (_lock) _dylibs.Add(jd);
        return jd;
    }

    /// <summary>Runs the initializers of every unit of <paramref name="jd"/> not yet initialized, in link
    /// order, after those of the JITDylibs in its link order (<see cref="JITDylib.AddToLinkOrder"/>),
    /// whose code it may call.</summary>
    public void Initialize(JITDylib jd) => Initialize(jd, new HashSet<JITDylib>(ReferenceEqualityComparer.Instance));

    void Initialize(JITDylib jd, HashSet<JITDylib> seen)
    {
        if (!seen.Add(jd)) return;
        foreach (var dependency in jd.LinkOrder) Initialize(dependency, seen);
        lock (jd.SyncRoot)
            foreach (var unit in jd.Units)
            {
                if (unit.Initialized) continue;
                unit.Initialized = true;
                Executor.RunInitializers(unit.Initializers);
            }
    }

    /// <summary>Runs the finalizers of every initialized unit of <paramref name="jd"/>, newest first, and
    /// the atexit/__cxa_atexit handlers its code registered, as dlclose would, without removing anything:
    /// the code stays linked and callable, and a later <see cref="Initialize"/> runs the initializers again.</summary>
    public void Deinitialize(JITDylib jd)
    {
        lock (jd.SyncRoot)
        {
            var units = jd.Units;
            for (int i = units.Count - 1; i >= 0; i--)
            {
                if (!units[i].Initialized) continue;
                units[i].Initialized = false;
                Executor.RunDeinitializers(units[i].DsoHandle, units[i].Finalizers);
            }
        }
    }

    /// <summary>
    /// Removes a JITDylib and everything linked into it: its atexit/__cxa_atexit handlers and finalizers run
    /// (if it was initialized), then all its allocations are freed in one bulk deallocation, whose dealloc
    /// actions deregister eh-frames and undo copy relocations. Its names can then be defined again.
    /// </summary>
    public void RemoveJITDylib(JITDylib jd)
    {
        lock (_lock)
            if (!_dylibs.Remove(jd)) throw new LinkError($"JITDylib '{jd.Name}' is not part of this session");
        lock (jd.SyncRoot)
        {
            jd.Removed = true;
            var units = jd.Units;
            // Newest first, each as dlclose tears down one shared object.
            for (int i = units.Count - 1; i >= 0; i--)
                if (units[i].Initialized) Executor.RunDeinitializers(units[i].DsoHandle, units[i].Finalizers);
            var allocations = units.Select(u => u.Allocation).ToArray();
            jd.Clear(); // names out before the memory goes, as in RemoveUnit
            Executor.MemoryManager.Deallocate(allocations);
        }
    }

    /// <summary>
    /// Removes one link unit (a group of objects linked together: ORC's resource tracker) from its
    /// JITDylib: its finalizers and the atexit/__cxa_atexit handlers its code registered run (if it was
    /// initialized), its memory is freed with its dealloc actions, and the names it defined can be
    /// defined again. Code elsewhere that still calls into it is the caller's responsibility.
    /// </summary>
    public void RemoveUnit(LinkedUnit unit)
    {
        var jd = unit.Owner;
        lock (jd.SyncRoot)
        {
            if (jd.Removed || jd.Session != this || !jd.Units.Contains(unit)) throw new LinkError($"link unit is not part of JITDylib '{jd.Name}' in this session");
            if (unit.Initialized) Executor.RunDeinitializers(unit.DsoHandle, unit.Finalizers);
            // Names out before the memory goes: lookups do not take this lock, and a link on another thread
            // may reuse the addresses at once.
            jd.Forget(unit);
            Executor.MemoryManager.Deallocate([unit.Allocation]);
        }
    }

    /// <summary>
    /// Ends the session: every JITDylib is removed, newest first, as <see cref="RemoveJITDylib"/> removes
    /// it (finalizers and atexit handlers of initialized ones run, memory is freed), then the executor is
    /// disposed (a child executor exits). An executor already gone (a program that ended it) is not an
    /// error here: there is nothing left to tear down.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            var dylibs = JITDylibs;
            for (int i = dylibs.Count - 1; i >= 0; i--) RemoveJITDylib(dylibs[i]);
        }
        catch (ExecutorLostException) { }
        finally { Executor.Dispose(); }
    }

    bool _disposed;
}
