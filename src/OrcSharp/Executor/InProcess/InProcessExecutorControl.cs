using System.Runtime.InteropServices;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor.InProcess;

/// <summary>Executor control for this process: memory is mapped here, calls are function pointers.</summary>
public sealed class InProcessExecutorControl : IExecutorControl
{
    readonly ExecutorMemory _memory = new();

    public InProcessExecutorControl()
    {
        MemoryManager = new SlabMemoryManager(new Access(_memory), PageSize);
    }

    public string TargetTriple => HostArchitecture.Triple;
    public uint PageSize => ExecutorMemory.PageSize;
    public IJitLinkMemoryManager MemoryManager { get; }
    public ExecutorStats Stats { get; } = new();

    public ExecutorAddr LoadDylib(string path) => SymbolLookup.LoadLibrary(path, _memory);

    public ExecutorAddr?[] LookupSymbols(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names) =>
        SymbolLookup.Lookup(libraries, names);

    public unsafe SymbolDescription?[] DescribeSymbols(IReadOnlyList<ExecutorAddr> addresses) =>
        SymbolLookup.Describe(addresses);

    public IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols { get; } = TargetProcess.BootstrapSymbols.Get();

    public int RunProgram(ProgramStart start) => ProgramRunner.Run(start, LibC.Symbol);

    public int RunMain(ExecutorAddr main, IReadOnlyList<string> arguments) => ProgramRunner.RunMain(main, arguments, LibC.Symbol);

    public ulong CallFunction(ExecutorAddr function, IReadOnlyList<ulong> arguments) => ProgramRunner.Call(function, arguments.ToArray());

    public void RunInitializers(IReadOnlyList<ExecutorAddr> initializers) =>
        ProgramRunner.RunInitializers(initializers, LibC.Symbol);

    public void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers) =>
        ProgramRunner.RunDeinitializers(dsoHandle, finalizers, LibC.Symbol);

    public TlsModule CreateTlsModule(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment) =>
        TlsModuleRuntime.Create(initialImage, memSize, alignment);

    public TlsImports ImportThreadLocals(IReadOnlyList<string> names)
    {
        var (handle, offsets) = TlsModuleRuntime.Import(names);
        return new TlsImports(handle == 0 ? null : new TlsModule(new ExecutorAddr((ulong)handle), 0, 0), offsets);
    }

    public void ReleaseTlsModule(TlsModule module) => TlsModuleRuntime.Release(module.Handle);

    public void Dispose() { }

    sealed class Access(ExecutorMemory memory) : IExecutorMemoryAccess
    {
        public bool WorkingMemoryIsTarget => true;
        public ExecutorAddr Reserve(ulong size, Placement placement) => memory.Reserve(size, placement);
        public Span<byte> CommitWorkingMemory(ExecutorAddr addr, ulong size) => memory.Commit(addr, size);
        public ExecutorAddr Finalize(FinalizeRequest request) => memory.Finalize(request);
        public void Deallocate(ReadOnlySpan<ExecutorAddr> handles) => memory.Deallocate(handles);
        public void Release(ExecutorAddr addr, ulong size) => ExecutorMemory.Release(addr, size);
    }
}
