using System.Runtime.InteropServices;
using OrcSharp.Executor;
using OrcSharp.Executor.InProcess;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Orc;
using OrcSharp.Shared;
using OrcSharp.Sources;

namespace OrcSharp;

/// <summary>
/// A ready-to-use JIT (OrcSharp's LLJIT): an <see cref="ExecutionSession"/> on the executor the options
/// name, a main JITDylib, and the usual steps in one place: add objects, archives, shared libraries and
/// C/C++ sources; define host symbols; look up functions; run main; replace a unit (hot reload); remove.
/// A lookup or a run first links what was added and runs new initializers, as LLJIT's lookup and
/// initialize do. Disposing it ends everything: every JITDylib's finalizers and atexit handlers run,
/// memory is freed and a child executor exits.
/// </summary>
/// <example><code>
/// using var jit = Jit.Create();
/// jit.AddSource("add.c");
/// var add = jit.GetFunction&lt;Func&lt;int, int, int&gt;&gt;("add");   // or (delegate* unmanaged&lt;int, int, int&gt;)jit.Lookup("add").ToPointer()
/// Console.WriteLine(add(2, 3));
/// </code></example>
public sealed class Jit : IDisposable, IAsyncDisposable
{
    readonly JitOptions _options;
    readonly Dictionary<JITDylib, DylibInputs> _inputs = new(ReferenceEqualityComparer.Instance);
    readonly object _lock = new();
    bool _disposed;

    /// <summary>What the facade knows about a JITDylib's inputs: its loader and whether the driver's
    /// default libraries (for C, for C++) have been added.</summary>
    sealed class DylibInputs(InputLoader loader)
    {
        public InputLoader Loader { get; } = loader;
        public bool Cxx;
        public bool DefaultsAdded, CxxDefaultsAdded;
    }

    Jit(JitOptions options, IExecutorControl executor)
    {
        _options = options;
        try
        {
            Session = new ExecutionSession(executor);
            MainJITDylib = CreateJITDylib("main");
        }
        catch
        {
            executor.Dispose();
            throw;
        }
    }

    /// <summary>Starts a JIT with <paramref name="options"/> (default: in this process).</summary>
    /// <exception cref="OrcSharpException">The executor cannot be started or reached.</exception>
    public static Jit Create(JitOptions? options = null)
    {
        options ??= JitOptions.InProcess;
        return new Jit(options, StartExecutor(options));
    }

    /// <summary>Starts a JIT without blocking the caller while a child executor starts or a remote one answers.</summary>
    public static Task<Jit> CreateAsync(JitOptions? options = null) => Task.Run(() => Create(options));

    static IExecutorControl StartExecutor(JitOptions o)
    {
        var remote = new RemoteExecutorOptions { SetupTimeout = o.ExecutorTimeout, ServiceTimeout = o.ExecutorTimeout };
        switch (o.Executor)
        {
            case ExecutorKind.InProcess:
                return new InProcessExecutorControl();
            case ExecutorKind.ChildProcess:
                return SimpleRemoteEPC.Spawn(FindExecutor(o.ExecutorPath), ["executor", "--stdio", "--program-stdout", "3", "--program-stdin", "4"],
                    o.ExecutorEnvironment, remote);
            case ExecutorKind.Connect:
                var endpoint = ExecutorEndpoint.Parse(o.ExecutorAddress ?? throw new OrcSharpException("JitOptions.ExecutorAddress is required to connect to an executor"));
                var token = endpoint.IsUnix ? null : o.ExecutorToken is { } t ? ExecutorToken.FromText(t, "JitOptions.ExecutorToken") : ExecutorToken.FromEnvironment();
                return SimpleRemoteEPC.Connect(endpoint, remote with { Token = token });
            default:
                throw new ArgumentOutOfRangeException(nameof(o), o.Executor, "unknown executor kind");
        }
    }

    /// <summary>The orcsharp command that serves as a child executor: the one given, $ORCSHARP_EXECUTOR, or
    /// "orcsharp" on PATH.</summary>
    static string FindExecutor(string? given)
    {
        if (given is { Length: > 0 }) return given;
        if (Environment.GetEnvironmentVariable("ORCSHARP_EXECUTOR") is { Length: > 0 } env) return env;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "orcsharp");
            if (File.Exists(candidate)) return candidate;
        }
        throw new OrcSharpException("no orcsharp executor found: install the orcsharp tool, or set JitOptions.ExecutorPath or ORCSHARP_EXECUTOR");
    }

    /// <summary>The session underneath, for what this class does not wrap (plugins, link options, statistics).</summary>
    public ExecutionSession Session { get; }
    /// <summary>The JITDylib the methods use when none is given.</summary>
    public JITDylib MainJITDylib { get; }
    /// <summary>Whether JIT'd code runs in this process (so its functions can be called through pointers
    /// and it can call C# methods given by <see cref="DefineHostSymbol"/>).</summary>
    public bool IsInProcess => Session.Executor is InProcessExecutorControl;
    /// <summary>The executor's target triple ("x86_64-unknown-linux-gnu" ...).</summary>
    public string TargetTriple => Session.Executor.TargetTriple;

    /// <summary>A new, empty JITDylib (a JIT'd "shared object" with its own symbol table). To let it bind
    /// to another's definitions, use <see cref="JITDylib.AddToLinkOrder"/>.</summary>
    public JITDylib CreateJITDylib(string name)
    {
        var jd = Session.CreateJITDylib(name);
        lock (_lock) _inputs[jd] = new DylibInputs(new InputLoader(jd, _options.LibraryPaths));
        return jd;
    }

    DylibInputs InputsOf(JITDylib? jd)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        jd ??= MainJITDylib;
        lock (_lock)
            return _inputs.TryGetValue(jd, out var i) ? i : throw new OrcSharpException($"JITDylib '{jd.Name}' was not created by this Jit");
    }

    /// <summary>Adds an input file by path, recognized by its content: a relocatable object, a static
    /// archive (members are linked when they resolve something), a shared library, or a GNU ld script; a
    /// C or C++ source (by its extension) is compiled first (<see cref="AddSource"/>).</summary>
    public void Add(string path, JITDylib? jd = null)
    {
        if (SourceCompiler.IsSource(path)) AddSource(path, jd);
        else InputsOf(jd).Loader.AddFile(path);
    }

    /// <summary>Adds a relocatable object file.</summary>
    public void AddObject(string path, JITDylib? jd = null) => InputsOf(jd).Loader.AddFile(path);

    /// <summary>Adds an object (or archive) already in memory, named <paramref name="name"/> in messages.</summary>
    public void AddObject(string name, ReadOnlyMemory<byte> bytes, JITDylib? jd = null) => InputsOf(jd).Loader.AddBytes(name, bytes);

    /// <summary>Adds a static archive: its members are linked when they define a name something needs.</summary>
    public void AddArchive(string path, JITDylib? jd = null) => InputsOf(jd).Loader.AddFile(path);

    /// <summary>Loads a shared library into the executor and adds it to the JITDylib's link order.</summary>
    public void AddSharedLibrary(string path, JITDylib? jd = null) => InputsOf(jd).Loader.AddFile(path);

    /// <summary>Adds a library by name as the system linker's -l NAME finds it (ld scripts understood),
    /// in the system directories and <see cref="JitOptions.LibraryPaths"/>.</summary>
    public void AddLibrary(string name, JITDylib? jd = null) => InputsOf(jd).Loader.AddLibrary(name);

    /// <summary>Compiles a C or C++ source (through the compile cache; see <see cref="JitOptions.Compiler"/>)
    /// and adds the object. A C++ source brings in the C++ runtime.</summary>
    /// <exception cref="OrcSharpException">The compiler failed (its first error line is in the message).</exception>
    public void AddSource(string path, JITDylib? jd = null)
    {
        var inputs = InputsOf(jd);
        string obj = SourceCompiler.Compile(path, _options.Compiler);
        if (SourceCompiler.IsCxx(path)) inputs.Cxx = true;
        // Named by the source in messages, not by its object in the cache.
        inputs.Loader.AddBytes(path, InputFile.Read(obj).Bytes);
    }

    /// <summary>Defines <paramref name="name"/> as an address in this process (a C# method marked
    /// [UnmanagedCallersOnly], taken with <c>&amp;Method</c>, or native data), so that JIT'd code linked
    /// afterwards calls or reads it (LLJIT's absoluteSymbols over process memory). In-process executors only.</summary>
    /// <exception cref="OrcSharpException">The executor runs in another process.</exception>
    public void DefineHostSymbol(string name, nint address, JITDylib? jd = null)
    {
        if (!IsInProcess)
            throw new OrcSharpException($"host symbol '{name}': an address in this process means nothing to an executor in another process");
        (jd ?? MainJITDylib).DefineAbsolute(name, new ExecutorAddr((ulong)address));
    }

    /// <summary>Defines <paramref name="name"/> as an address in the executor (llvm-jitlink's -abs), for
    /// JIT'd code linked afterwards.</summary>
    public void DefineAbsoluteSymbol(string name, ExecutorAddr address, JITDylib? jd = null) => (jd ?? MainJITDylib).DefineAbsolute(name, address);

    /// <summary>Links what was added to <paramref name="jd"/> since its last link as one unit (with the
    /// host's C library, and the C++ runtime for C++ inputs, unless <see cref="JitOptions.SearchHostLibraries"/>
    /// is off). Returns null when nothing was added. Lookups and runs link on their own.</summary>
    /// <exception cref="UndefinedSymbolException">Something is referenced that nothing defines.</exception>
    /// <exception cref="DuplicateSymbolException">A name is defined twice (in this link or by an earlier unit).</exception>
    /// <exception cref="BadObjectFileException">An input is not a valid object for the target.</exception>
    public LinkedUnit? Link(JITDylib? jd = null)
    {
        var inputs = InputsOf(jd);
        jd ??= MainJITDylib;
        lock (inputs)
        {
            if (!jd.HasPendingObjects) return null;
            AddDefaultLibraries(jd, inputs);
            return jd.Link();
        }
    }

    void AddDefaultLibraries(JITDylib jd, DylibInputs inputs)
    {
        if (!_options.SearchHostLibraries) return;
        inputs.Cxx |= jd.PendingObjectsLookLikeCxx();
        if (inputs.Cxx ? inputs.CxxDefaultsAdded : inputs.DefaultsAdded) return;
        inputs.Loader.AddDefaultLibraries(inputs.Cxx);
        inputs.DefaultsAdded = true;
        inputs.CxxDefaultsAdded |= inputs.Cxx;
    }

    /// <summary>Links pending inputs (of <paramref name="jd"/> and of its link order) and runs the
    /// initializers not yet run, dependencies first (LLJIT's initialize).</summary>
    public void Initialize(JITDylib? jd = null)
    {
        jd ??= MainJITDylib;
        LinkWithDependencies(jd, new HashSet<JITDylib>(ReferenceEqualityComparer.Instance));
        Session.Initialize(jd);
    }

    void LinkWithDependencies(JITDylib jd, HashSet<JITDylib> seen)
    {
        if (!seen.Add(jd)) return;
        foreach (var d in jd.LinkOrder) LinkWithDependencies(d, seen);
        Link(jd);
    }

    /// <summary>Runs the finalizers and atexit handlers of <paramref name="jd"/>'s initialized code, as
    /// dlclose would, but keeps it linked (LLJIT's deinitialize); <see cref="Initialize"/> starts it again.</summary>
    public void Deinitialize(JITDylib? jd = null) => Session.Deinitialize(jd ?? MainJITDylib);

    /// <summary>Finds <paramref name="name"/> in <paramref name="jd"/> (then in its link order), after
    /// linking and initializing what was added.</summary>
    /// <exception cref="UndefinedSymbolException">Nothing defines the name.</exception>
    public JitSymbol Lookup(string name, JITDylib? jd = null)
    {
        jd ??= MainJITDylib;
        Initialize(jd);
        if (jd.Lookup(name) is { } a) return new JitSymbol(name, a);
        foreach (var d in jd.LinkOrder)
            if (d.LookupExported(name) is { } b) return new JitSymbol(name, b);
        throw new UndefinedSymbolException(name, null, [], $"symbol '{name}' is not defined in JITDylib '{jd.Name}'");
    }

    /// <summary>A delegate of type <typeparamref name="T"/> that calls the JIT'd function <paramref name="name"/>
    /// (in-process executors only). For the fastest calls, cast <see cref="JitSymbol.ToPointer"/> of
    /// <see cref="Lookup"/> to a <c>delegate* unmanaged&lt;...&gt;</c> instead.</summary>
    /// <exception cref="UndefinedSymbolException">Nothing defines the name.</exception>
    /// <exception cref="OrcSharpException">The executor runs in another process (use <see cref="CallAsync(string, long[])"/>).</exception>
    public T GetFunction<T>(string name, JITDylib? jd = null) where T : Delegate
    {
        if (!IsInProcess) throw new OrcSharpException($"function '{name}' runs in another process: call it with CallAsync");
        return Marshal.GetDelegateForFunctionPointer<T>(Lookup(name, jd).ToIntPtr());
    }

    /// <summary>Runs <paramref name="entry"/> (main) of <paramref name="jd"/> as LLVM's runAsMain does:
    /// after linking and initializing, main(argc, argv, envp) with argv = <paramref name="programName"/>
    /// (default: the JITDylib's name) followed by <paramref name="args"/>; returns its exit status. The
    /// executor goes on serving (run it again, look things up, remove it). A program that calls
    /// <c>exit</c> ends its process: in process that is this one, so use a child executor for such programs.</summary>
    public Task<int> RunMainAsync(IReadOnlyList<string> args, JITDylib? jd = null, string entry = "main", string? programName = null)
    {
        jd ??= MainJITDylib;
        var main = Lookup(entry, jd);
        var argv = new List<string>(args.Count + 1) { programName ?? jd.Name };
        argv.AddRange(args);
        return Task.Run(() => Session.Executor.RunMain(main.Address, argv));
    }

    /// <summary>Calls the JIT'd function <paramref name="name"/>, in process or out of process, with up to
    /// six integer or pointer arguments, and returns what it leaves in its integer return register (an
    /// int, long or pointer result; meaningless for void).</summary>
    public Task<long> CallAsync(string name, params long[] args) => CallAsync(Lookup(name), args);

    /// <summary>Calls a function found by <see cref="Lookup"/> (see <see cref="CallAsync(string, long[])"/>).</summary>
    public Task<long> CallAsync(JitSymbol function, params long[] args)
    {
        var a = Array.ConvertAll(args, v => (ulong)v);
        return Task.Run(() => (long)Session.Executor.CallFunction(function.Address, a));
    }

    /// <summary>
    /// Hot reload: replaces <paramref name="unit"/> (the result of a <see cref="Link"/>) with a unit linked
    /// from <paramref name="inputs"/> (objects or C/C++ sources), which may define the same names again.
    /// The new unit is linked first (and initialized, if the old one was); then <paramref name="beforeRemoval"/>
    /// runs, the moment to point callers at the new code (e.g. through a function pointer a stable
    /// function calls); then the old unit is removed. If the link fails, the old unit stays.
    /// </summary>
    public LinkedUnit Replace(LinkedUnit unit, IEnumerable<string> inputs, Action<LinkedUnit>? beforeRemoval = null)
    {
        ArgumentNullException.ThrowIfNull(unit);
        var objects = new List<ObjectInput>();
        foreach (var path in inputs)
        {
            string obj = SourceCompiler.IsSource(path) ? SourceCompiler.Compile(path, _options.Compiler) : path;
            objects.Add(new ObjectInput(path, InputFile.Read(obj).Bytes));
        }
        return unit.Owner.Replace(unit, objects, beforeRemoval);
    }

    /// <summary>Removes one unit: its finalizers and atexit handlers run (if it was initialized), its
    /// memory is freed, its names can be defined again (ORC's ResourceTracker::remove).</summary>
    public void Remove(LinkedUnit unit) => Session.RemoveUnit(unit);

    /// <summary>Removes a JITDylib and everything linked into it (finalizers, atexit handlers, memory).</summary>
    public void RemoveJITDylib(JITDylib jd)
    {
        Session.RemoveJITDylib(jd);
        lock (_lock) _inputs.Remove(jd);
    }

    /// <summary>Ends the JIT: every JITDylib's finalizers and atexit handlers run (newest JITDylib first),
    /// its memory is freed, and a child executor exits.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Session.Dispose();
    }

    /// <summary>Disposes on a thread-pool thread (finalizers of JIT'd code may take their time).</summary>
    public ValueTask DisposeAsync() => new(Task.Run(Dispose));
}
