using OrcSharp.Executor;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.JitLink;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Fuzz;

/// <summary>
/// An executor that runs nothing, so a fuzz campaign links a million inputs without a process, a page of
/// executable memory or a dlopen per input: address space is handed out as numbers (the same numbers for
/// every input, so a failure reproduces), working memory is managed buffers of exactly the requested
/// sizes (an out-of-bounds write is an exception, not a corruption), and finalization checks what the
/// real executor would check and keeps nothing. Library symbols are looked up for real in this process
/// (what exists and whether it is data), at stable fake addresses near the fake link memory.
/// </summary>
public sealed class FuzzExecutor : IExecutorControl
{
    const ulong NearLibrariesBase = 0x7f00_0000_0000, Low32Base = 0x1000_0000;
    /// <summary>Library symbols live 1 GiB above link memory (in reach of 32-bit displacements) or, for
    /// one name in four, 4 GiB above (out of reach: stubs and copy relocations).</summary>
    const ulong LibraryNear = 0x7f00_4000_0000, LibraryFar = 0x7f01_0000_0000;
    static readonly ExecutorMemory RealLoader = new();
    static readonly Dictionary<ulong, ulong> RealByFake = new();

    public FuzzExecutor()
    {
        MemoryManager = new SlabMemoryManager(new Access(), PageSize);
        var boot = new Dictionary<string, ExecutorAddr>();
        ulong a = 0x7e00_0000_0000;
        foreach (var f in typeof(BootstrapNames).GetFields()) boot[(string)f.GetValue(null)!] = new ExecutorAddr(a += 0x100);
        BootstrapSymbols = boot;
    }

    public string TargetTriple => HostArchitecture.Triple;
    public uint PageSize => 4096;
    public IJitLinkMemoryManager MemoryManager { get; }
    public ExecutorStats Stats { get; } = new();
    public IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols { get; }

    public ExecutorAddr LoadDylib(string path) => SymbolLookup.LoadLibrary(path, RealLoader);

    public ExecutorAddr?[] LookupSymbols(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names)
    {
        var real = SymbolLookup.Lookup(libraries, names);
        var result = new ExecutorAddr?[names.Count];
        lock (RealByFake)
            for (int i = 0; i < names.Count; i++)
            {
                if (real[i] is not { } r) continue;
                // From the name alone, so every run of an input sees the same addresses.
                ulong h = Fnv(names[i]);
                ulong fake = ((h & 3) == 0 ? LibraryFar : LibraryNear) + ((h >> 8) & 0xff_ffff) * 16;
                RealByFake[fake] = r.Value;
                result[i] = new ExecutorAddr(fake);
            }
        return result;
    }

    public SymbolDescription?[] DescribeSymbols(IReadOnlyList<ExecutorAddr> addresses)
    {
        var real = new List<ExecutorAddr>();
        lock (RealByFake) foreach (var a in addresses) real.Add(new ExecutorAddr(RealByFake.GetValueOrDefault(a.Value)));
        return SymbolLookup.Describe(real);
    }

    static ulong Fnv(string s)
    {
        ulong h = 0xcbf29ce484222325;
        foreach (char c in s) { h ^= c; h *= 0x100000001b3; }
        return h;
    }

    public TlsModule CreateTlsModule(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment)
    {
        // The module image the real executor would build, for its checks; its block sits below the thread pointer.
        TlsModuleImage.Build(initialImage, memSize, alignment, HostArchitecture.IsArm64 ? ObjectFile.Elf.ElfAbi.EmAArch64 : ObjectFile.Elf.ElfAbi.EmX86_64);
        ulong size = (memSize + alignment - 1) & ~(alignment - 1);
        return new TlsModule(new ExecutorAddr(0x7d00_0000_0000), 2, -(long)size);
    }

    /// <summary>Every name is a library thread-local at a stable fake offset below the thread pointer, so
    /// inputs that reach them exercise the relocations that use them; nothing is loaded.</summary>
    public TlsImports ImportThreadLocals(IReadOnlyList<string> names) =>
        new(null, names.Select(n => (long?)-(long)(0x1000 + (Fnv(n) & 0xff) * 16)).ToArray());

    public void ReleaseTlsModule(TlsModule module) { }
    public int RunProgram(ProgramStart start) => throw new InvalidOperationException("the fuzz executor runs nothing");
    public void RunInitializers(IReadOnlyList<ExecutorAddr> initializers) => throw new InvalidOperationException("the fuzz executor runs nothing");
    public void RunDeinitializers(ExecutorAddr dsoHandle, IReadOnlyList<ExecutorAddr> finalizers) { }
    public void Dispose() { }

    sealed class Access : IExecutorMemoryAccess
    {
        ulong _nearLibraries = NearLibrariesBase, _low32 = Low32Base;
        public bool WorkingMemoryIsTarget => false;

        public ExecutorAddr Reserve(ulong size, Placement placement)
        {
            ref ulong next = ref placement == Placement.Low32 ? ref _low32 : ref _nearLibraries;
            ulong limit = placement == Placement.Low32 ? 1UL << 31 : LibraryNear;
            if (size > limit - next) throw new LinkError($"executor: cannot reserve {size >> 20} MiB of address space");
            var a = new ExecutorAddr(next);
            next += (size + 0xffff) & ~0xffffUL;
            return a;
        }

        public Span<byte> CommitWorkingMemory(ExecutorAddr addr, ulong size) => throw new InvalidOperationException("working memory is not the target");

        public ExecutorAddr Finalize(FinalizeRequest request)
        {
            foreach (var seg in request.Segments)
                if ((ulong)seg.Content.Length > seg.Size) throw new LinkError($"executor: segment at {seg.Address} has more content than size");
            return request.Segments.Count > 0 ? request.Segments[0].Address : default;
        }

        public void Deallocate(ReadOnlySpan<ExecutorAddr> handles) { }
        public void Release(ExecutorAddr addr, ulong size) { }
    }
}
