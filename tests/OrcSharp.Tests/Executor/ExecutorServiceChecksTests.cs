using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>
/// An authenticated controller is trusted, but the executor's services still check what they can: handles
/// they never gave out, memory they never reserved or finalized, calls to addresses that are neither
/// finalized code nor library functions, impossible TLS layouts. Each is an error result, and the executor
/// keeps serving; none may crash it. Driven over the raw stdio protocol.
/// </summary>
public sealed class ExecutorServiceChecksTests : IDisposable
{
    const ulong Bogus = 0xdeadbeef;
    readonly RawExecutor _ex = RawExecutor.Start();
    readonly ExecutorSetupInfo _setup;
    readonly ExecutorAddr _slab;
    ulong _seq;

    public ExecutorServiceChecksTests()
    {
        _setup = ExecutorSetupInfo.Decode(_ex.Read().Payload);
        _slab = new SpsReader(_setup.BootstrapMap[SimpleRemoteExecutorServer.InitialSlabKey]).Addr();
    }

    public void Dispose() => _ex.Dispose();

    ExecutorAddr Fn(string name) => _setup.BootstrapSymbols[name];

    /// <summary>Calls a service; returns its error text (null for success) and the reader past the flag.</summary>
    string? Call(string service, byte[] argument) => Wire.Result(service, _ex.Call(++_seq, Fn(service), argument));

    static byte[] Addr(ulong a) => new SpsWriter().Addr(new ExecutorAddr(a)).ToArray();
    static byte[] Addrs(params ulong[] a) => ExecutorServiceMessages.Addresses(a.Select(v => new ExecutorAddr(v)).ToArray());

    static byte[] Finalize(ExecutorAddr at, MemProt prot, byte[] content, params AllocActionCallPair[] actions) =>
        ExecutorServiceMessages.Finalize(new FinalizeRequest([new FinalizeSegment(at, 4096, prot, MemLifetime.Standard, content)], actions));

    void AssertStillServing()
    {
        var r = new SpsReader(_ex.Call(++_seq, Fn(BootstrapNames.Lookup), ExecutorServiceMessages.Lookup(["libc.so.6"], [ExecutorServiceMessages.LoadedInThisCall], ["puts"])));
        Assert.Null(r.Expected());
        ExecutorServiceMessages.ReadAddresses(ref r);
        Assert.Equal(1, r.Count(9));
        Assert.True(r.Bool()); // puts found
        _ex.Send(SimpleRemoteOpcode.Hangup, 0, 0, new SpsWriter().Error(null).WrittenSpan);
        Assert.Equal(0, _ex.Exit());
        Assert.Equal("", _ex.Stderr());
    }

    [Fact]
    public void HandlesItNeverGaveOutAreErrors()
    {
        Assert.Equal("executor: no library has handle 0xdeadbeef", Call(BootstrapNames.Lookup, ExecutorServiceMessages.Lookup([], [Bogus], ["puts"])));
        Assert.Equal("executor: no thread-local storage module has handle 0xdeadbeef", Call(BootstrapNames.ReleaseTlsModule, Addr(Bogus)));
        Assert.Equal("executor: deallocation: no allocation with handle 0xdeadbeef", Call(BootstrapNames.MemDeallocate, Addrs(Bogus)));
        Assert.Equal("no eh-frame section is registered at 0xdeadbeef", Call(BootstrapNames.DeregisterEhFrame, Addr(Bogus)));
        AssertStillServing();
    }

    [Fact]
    public void MemoryItNeverReservedIsNotTouched()
    {
        Assert.Equal("executor: cannot release 0xdeadb000 (4096 bytes): not memory this executor reserved",
            Call(BootstrapNames.MemRelease, new SpsWriter().Addr(new ExecutorAddr(0xdeadb000)).U64(4096).ToArray()));
        Assert.Equal("executor: segment at 0xdeadb000 (4096 bytes) is not in memory this executor reserved",
            Call(BootstrapNames.MemFinalize, Finalize(new ExecutorAddr(0xdeadb000), MemProt.Read, [1, 2, 3])));
        // The slab the executor announced is its own, but not at every offset: one past its end is not.
        ulong slabSize = new SpsReader(_setup.BootstrapMap[SimpleRemoteExecutorServer.InitialSlabKey][8..]).U64();
        Assert.Contains("is not in memory this executor reserved", Call(BootstrapNames.MemFinalize, Finalize(_slab + slabSize, MemProt.Read, [1])));
        Assert.Contains("a reservation is between one byte and 1024 GiB", Call(BootstrapNames.MemReserve, ExecutorServiceMessages.Reserve(0, OrcSharp.Memory.Placement.NearLibraries)));
        Assert.Contains("a reservation is between one byte and 1024 GiB", Call(BootstrapNames.MemReserve, ExecutorServiceMessages.Reserve(1UL << 62, OrcSharp.Memory.Placement.NearLibraries)));

        // A live allocation may be neither finalized over nor released.
        Assert.Null(Call(BootstrapNames.MemFinalize, Finalize(_slab, MemProt.Read, [1, 2, 3])));
        Assert.Equal($"executor: segment at {_slab} (4096 bytes) overlaps a live allocation", Call(BootstrapNames.MemFinalize, Finalize(_slab, MemProt.Read, [4])));
        Assert.Equal($"executor: segment at {_slab} (8192 bytes) overlaps a live allocation", Call(BootstrapNames.MemFinalize,
            ExecutorServiceMessages.Finalize(new FinalizeRequest([
                new FinalizeSegment(_slab + 8192, 4096, MemProt.Read, MemLifetime.Standard, new byte[1]),
                new FinalizeSegment(_slab, 8192, MemProt.Read, MemLifetime.Standard, new byte[1])], []))));
        Assert.Contains("it holds a live allocation", Call(BootstrapNames.MemRelease, new SpsWriter().Addr(_slab).U64(4096).ToArray()));
        Assert.Null(Call(BootstrapNames.MemDeallocate, Addrs(_slab.Value)));
        Assert.Null(Call(BootstrapNames.MemRelease, new SpsWriter().Addr(_slab).U64(4096).ToArray()));
        AssertStillServing();
    }

    [Fact]
    public void ActionsAndInitializersMustBeCodeItKnows()
    {
        var bogus = new WrapperCall(new ExecutorAddr(Bogus), []);
        Assert.Equal("executor: finalize action at 0xdeadbeef is neither a runtime function nor finalized code",
            Call(BootstrapNames.MemFinalize, Finalize(_slab, MemProt.Read, [1], new AllocActionCallPair(bogus, null))));
        var ok = new WrapperCall(default, []);
        Assert.Equal("executor: dealloc action at 0xdeadbeef is neither a runtime function nor finalized code",
            Call(BootstrapNames.MemFinalize, Finalize(_slab, MemProt.Read, [1], new AllocActionCallPair(ok, bogus))));
        Assert.Null(Call(BootstrapNames.MemFinalize, Finalize(_slab, MemProt.Read, [1]))); // nothing was left behind

        Assert.Equal("executor: initializer at 0xdeadbeef is neither finalized code nor a library function", Call(BootstrapNames.RunInitializers, Addrs(Bogus)));
        // Data the executor finalized is not code either.
        Assert.Equal($"executor: initializer at {_slab} is neither finalized code nor a library function", Call(BootstrapNames.RunInitializers, Addrs(_slab.Value)));
        Assert.Equal("executor: finalizer at 0xdeadbeef is neither finalized code nor a library function",
            Call(BootstrapNames.RunDeinitializers, [.. Addr(0), .. Addrs(Bogus)]));
        Assert.Equal("executor: entry point at 0xdeadbeef is neither finalized code nor a library function",
            Call(BootstrapNames.RunProgram, ExecutorServiceMessages.Program(new ProgramStart([], [], default, new ExecutorAddr(Bogus), ["x"]))));
        AssertStillServing();
    }

    [Fact]
    public void EhFramesMustLieInFinalizedMemory()
    {
        Assert.Equal("eh-frame section at 0xdeadbeef is not in finalized memory", Call(BootstrapNames.RegisterEhFrame, Addr(Bogus)));
        // A record whose length runs past the end of its (one-page) segment.
        var runaway = new byte[16];
        BitConverter.TryWriteBytes(runaway, 0x2000u);
        Assert.Null(Call(BootstrapNames.MemFinalize, Finalize(_slab, MemProt.Read, runaway)));
        Assert.Equal($"eh-frame section at {_slab} runs past the end of its segment", Call(BootstrapNames.RegisterEhFrame, Addr(_slab.Value)));
        // An empty section (just its terminator) registers once, and deregisters once.
        var empty = _slab + 4096;
        Assert.Null(Call(BootstrapNames.MemFinalize, Finalize(empty, MemProt.Read, new byte[4])));
        Assert.Null(Call(BootstrapNames.RegisterEhFrame, Addr(empty.Value)));
        Assert.Equal($"eh-frame section at {empty} is already registered", Call(BootstrapNames.RegisterEhFrame, Addr(empty.Value)));
        Assert.Null(Call(BootstrapNames.DeregisterEhFrame, Addr(empty.Value)));
        Assert.Equal($"no eh-frame section is registered at {empty}", Call(BootstrapNames.DeregisterEhFrame, Addr(empty.Value)));
        AssertStillServing();
    }

    [Fact]
    public void ImpossibleTlsLayoutsAndCopiesAreErrors()
    {
        byte[] Tls(ulong memSize, ulong align) => new SpsWriter().Bytes([1, 2, 3, 4]).U64(memSize).U64(align).ToArray();
        Assert.Equal("executor: thread-local storage alignment 3 is not a power of two", Call(BootstrapNames.CreateTlsModule, Tls(16, 3)));
        Assert.Equal("executor: thread-local storage alignment 0 is not a power of two", Call(BootstrapNames.CreateTlsModule, Tls(16, 0)));
        Assert.Contains("with a 4-byte initial image is not possible", Call(BootstrapNames.CreateTlsModule, Tls(2, 8)));
        Assert.Contains("cannot be placed in static TLS", Call(BootstrapNames.CreateTlsModule, Tls(16, 1UL << 40)));

        // Copy relocations: the original must be a library variable, the copy writable finalized memory.
        byte[] Copy(ulong orig, ulong copy, ulong size) =>
            CopyRelocationRuntime.EncodeArgument([("stdout", new ExecutorAddr(orig), new ExecutorAddr(copy), size)]);
        Assert.Equal("copy relocation: 'stdout': 0xdeadbeef is not a library variable of at least 8 bytes",
            Call(BootstrapNames.CopyRelocationApply, Copy(Bogus, _slab.Value, 8)));
        AssertStillServing();
    }
}
