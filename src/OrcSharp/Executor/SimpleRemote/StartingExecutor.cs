using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// A child executor that is still starting: the process runs already, and its Setup message is awaited on
/// a thread of its own, so that reading and parsing the inputs overlap the executor's start. The target
/// triple is known in advance; everything else waits for the connection at first use, and a failed start
/// is thrown there as itself.
/// </summary>
public sealed class StartingExecutor : IExecutorControl
{
    readonly TaskCompletionSource<SimpleRemoteEPC> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts <paramref name="executable"/> now (see <see cref="SimpleRemoteEPC.Spawn"/>) and
    /// connects in the background.</summary>
    public StartingExecutor(string targetTriple, string executable, IReadOnlyList<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null, RemoteExecutorOptions? options = null)
    {
        TargetTriple = targetTriple;
        var process = ExecutorProcess.Start(executable, arguments, environment);
        // A thread of its own, not the pool's: the pool would start more threads for one wait.
        new Thread(() =>
        {
            try { _connected.SetResult(SimpleRemoteEPC.Connect(process, options)); }
            catch (Exception e) { _connected.SetException(e); }
        }) { IsBackground = true, Name = "orcsharp-executor-start" }.Start();
    }

    /// <summary>The connected executor, once it has started (waits for it).</summary>
    public SimpleRemoteEPC Connected => _connected.Task.GetAwaiter().GetResult();

    public string TargetTriple { get; }
    public uint PageSize => Connected.PageSize;
    public IJitLinkMemoryManager MemoryManager => Connected.MemoryManager;
    public ExecutorStats Stats => Connected.Stats;
    public IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols => Connected.BootstrapSymbols;
    public ExecutorAddr LoadDylib(string path) => Connected.LoadDylib(path);
    public ExecutorAddr?[] LookupSymbols(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names) => Connected.LookupSymbols(libraries, names);
    public SymbolDescription?[] DescribeSymbols(IReadOnlyList<ExecutorAddr> addresses) => Connected.DescribeSymbols(addresses);
    public int RunProgram(ProgramStart start) => Connected.RunProgram(start);
    public void RunInitializers(IReadOnlyList<ExecutorAddr> initializers) => Connected.RunInitializers(initializers);
    public void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers) => Connected.RunDeinitializers(dsoHandle, finalizers);
    public TlsModule CreateTlsModule(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment) => Connected.CreateTlsModule(initialImage, memSize, alignment);
    public TlsImports ImportThreadLocals(IReadOnlyList<string> names) => Connected.ImportThreadLocals(names);
    public void ReleaseTlsModule(TlsModule module) => Connected.ReleaseTlsModule(module);

    /// <summary>Hangs up once started (a start that failed has already cleaned up after itself).</summary>
    public void Dispose()
    {
        try { _connected.Task.Wait(); } catch (AggregateException) { return; }
        _connected.Task.Result.Dispose();
    }
}
