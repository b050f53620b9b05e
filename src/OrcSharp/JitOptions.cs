using OrcSharp.Sources;

namespace OrcSharp;

/// <summary>Where JIT'd code runs.</summary>
public enum ExecutorKind
{
    /// <summary>In this process: function pointers can be called directly and C# methods linked against.</summary>
    InProcess,
    /// <summary>In a child process ("orcsharp executor --stdio") connected by pipes: a crash or an
    /// <c>exit</c> of JIT'd code ends the child, not this process.</summary>
    ChildProcess,
    /// <summary>In an executor listening on TCP or a Unix socket ("orcsharp executor --listen ADDRESS").</summary>
    Connect,
}

/// <summary>
/// How to start a <see cref="Jit"/>: where code runs, where libraries are searched, how sources are
/// compiled. The static members give the usual starting points:
/// <c>JitOptions.InProcess</c>, <c>JitOptions.ChildProcess()</c>, <c>JitOptions.Connect("127.0.0.1:7000")</c>.
/// </summary>
public sealed record JitOptions
{
    /// <summary>Run in this process (the default).</summary>
    public static JitOptions InProcess { get; } = new();

    /// <summary>Run in a child executor started from <paramref name="executorPath"/> (the orcsharp
    /// command; by default $ORCSHARP_EXECUTOR, else "orcsharp" on PATH, as the dotnet tool installs it).</summary>
    public static JitOptions ChildProcess(string? executorPath = null) => new() { Executor = ExecutorKind.ChildProcess, ExecutorPath = executorPath };

    /// <summary>Run in the executor listening at <paramref name="address"/> (HOST:PORT or unix:PATH); over
    /// TCP, <paramref name="token"/> (else $ORCSHARP_EXECUTOR_TOKEN) answers its challenge.</summary>
    public static JitOptions Connect(string address, string? token = null) => new() { Executor = ExecutorKind.Connect, ExecutorAddress = address, ExecutorToken = token };

    /// <summary>Where JIT'd code runs.</summary>
    public ExecutorKind Executor { get; init; } = ExecutorKind.InProcess;
    /// <summary>The orcsharp executable a child executor is started from (see <see cref="ChildProcess"/>).</summary>
    public string? ExecutorPath { get; init; }
    /// <summary>HOST:PORT or unix:PATH of a listening executor (<see cref="ExecutorKind.Connect"/>).</summary>
    public string? ExecutorAddress { get; init; }
    /// <summary>The listening executor's token (TCP); null: $ORCSHARP_EXECUTOR_TOKEN, if set.</summary>
    public string? ExecutorToken { get; init; }
    /// <summary>Extra environment variables of a child executor.</summary>
    public IReadOnlyDictionary<string, string>? ExecutorEnvironment { get; init; }
    /// <summary>How long to wait for an executor's setup and for each service call (not for JIT'd code).</summary>
    public TimeSpan ExecutorTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Link every JITDylib against the host's C library and, when its inputs are C++, the C++
    /// runtime (libstdc++, libm, libgcc_s), as the compiler driver does and as LLJIT's process-symbols
    /// generator makes the host's symbols visible. On by default.</summary>
    public bool SearchHostLibraries { get; init; } = true;
    /// <summary>Extra library search directories for <see cref="Jit.AddLibrary"/> (like -L).</summary>
    public IReadOnlyList<string> LibraryPaths { get; init; } = [];
    /// <summary>Compilers, flags and cache for <see cref="Jit.AddSource"/>; null: $CC, $CXX, $CFLAGS,
    /// $CXXFLAGS and ~/.cache/orcsharp.</summary>
    public CompilerSettings? Compiler { get; init; }
}
