using System.Diagnostics.CodeAnalysis;
using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor.NoExec;

/// <summary>
/// Executor control for links that never run (`jitlink -noexec`): memory comes from a
/// <see cref="NoExecMemoryManager"/> (addresses only, nothing mapped), thread-locals get a module that
/// exists only as its numbers, and library symbols resolve through <paramref name="symbolSource"/> (this
/// process, for a target of this machine's architecture, as llvm-jitlink resolves process symbols) or
/// nowhere. Finalize actions are never run; running code is an error.
/// </summary>
public sealed class NoExecExecutorControl(string targetTriple, NoExecMemoryManager memory, IExecutorControl? symbolSource) : IExecutorControl
{
    public string TargetTriple => targetTriple;
    public uint PageSize => memory.PageSize;
    public IJitLinkMemoryManager MemoryManager => memory;
    public ExecutorStats Stats { get; } = new();
    public IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols { get; } = new NoServices();

    public ExecutorAddr LoadDylib(string path) =>
        symbolSource?.LoadDylib(path) ?? throw new LinkError($"cannot load {path}: a link for {targetTriple} that does not run has no process to load libraries into");

    public ExecutorAddr?[] LookupSymbols(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names) =>
        symbolSource?.LookupSymbols(libraries, names) ?? new ExecutorAddr?[names.Count];

    public SymbolDescription?[] DescribeSymbols(IReadOnlyList<ExecutorAddr> addresses) =>
        symbolSource?.DescribeSymbols(addresses) ?? new SymbolDescription?[addresses.Count];

    public int RunProgram(ProgramStart start) => throw NothingRuns();
    public void RunInitializers(IReadOnlyList<ExecutorAddr> initializers) => throw NothingRuns();
    public void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers) { }

    static LinkError NothingRuns() => new("this executor only links: nothing runs");

    /// <summary>A module that occupies the place the thread library would give it: below the thread
    /// pointer on x86-64 (TLS variant II), after the 16-byte thread control block on AArch64 (variant I).</summary>
    public TlsModule CreateTlsModule(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment)
    {
        ulong a = Math.Max(1, alignment);
        long offset = targetTriple.StartsWith("aarch64", StringComparison.Ordinal)
            ? (long)((16 + a - 1) & ~(a - 1))
            : -(long)((memSize + a - 1) & ~(a - 1));
        return new TlsModule(default, 1, offset);
    }

    /// <summary>Thread-locals of libraries resolve as library symbols do: through the symbol source, or nowhere.</summary>
    public TlsImports ImportThreadLocals(IReadOnlyList<string> names) =>
        symbolSource?.ImportThreadLocals(names) ?? new TlsImports(null, new long?[names.Count]);

    public WrapperCall ReleaseAction(TlsModule module) => new(default, []);
    public void ReleaseTlsModule(TlsModule module) { }

    public void Dispose() => symbolSource?.Dispose();

    /// <summary>Every runtime service answers at address 0: finalize actions are built but never run.</summary>
    sealed class NoServices : IReadOnlyDictionary<string, ExecutorAddr>
    {
        public ExecutorAddr this[string key] => default;
        public IEnumerable<string> Keys => [];
        public IEnumerable<ExecutorAddr> Values => [];
        public int Count => 0;
        public bool ContainsKey(string key) => true;
        public bool TryGetValue(string key, [MaybeNullWhen(false)] out ExecutorAddr value) { value = default; return true; }
        public IEnumerator<KeyValuePair<string, ExecutorAddr>> GetEnumerator() => Enumerable.Empty<KeyValuePair<string, ExecutorAddr>>().GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
