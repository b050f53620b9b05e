using OrcSharp.Executor.TargetProcess;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// Argument and result encodings (SimplePackedSerialization) of the executor's service wrapper functions,
/// shared by the controller (encode arguments, decode results) and the executor (the reverse). Results are
/// encoded as LLVM encodes them: an SPSError for services that return nothing, an SPSExpected&lt;T&gt; for
/// the others, so any failure comes back as one message.
/// </summary>
public static class ExecutorServiceMessages
{
    /// <summary>Library references in a lookup: an existing handle, or (high bit set) an index into the
    /// libraries the same call loads first, so loading and the first lookup share one round trip.</summary>
    public const ulong LoadedInThisCall = 1UL << 63;

    /// <summary>Success of a service that returns nothing (SPSError).</summary>
    public static byte[] Ok() => new SpsWriter(1).Error(null).ToArray();

    /// <summary>Success of a service that returns a value (SPSExpected&lt;T&gt;: HasValue, then the value).</summary>
    public static byte[] Ok(Action<SpsWriter> value)
    {
        var w = new SpsWriter().Expected(null);
        value(w);
        return w.ToArray();
    }

    /// <summary>Failure of a service that returns nothing (SPSError).</summary>
    public static byte[] Failure(string message) => new SpsWriter().Error(message).ToArray();

    /// <summary>Failure of a service that returns a value (SPSExpected&lt;T&gt;).</summary>
    public static byte[] ExpectedFailure(string message) => new SpsWriter().Expected(message).ToArray();

    /// <summary>Reads an SPSExpected result: throws the executor's error as a <see cref="LinkError"/>, on one
    /// line and cut to a sane length (it is the peer's text); else returns a reader at the value.</summary>
    public static SpsReader Expect(byte[] result, string service)
    {
        if (result.Length == 0) throw NoResult(service);
        var r = new SpsReader(result);
        if (r.Expected() is { } e) throw PeerError(e, service);
        return r;
    }

    /// <summary>Reads an SPSError result: throws the executor's error as a <see cref="LinkError"/>.</summary>
    public static void ExpectSuccess(byte[] result, string service)
    {
        if (result.Length == 0) throw NoResult(service);
        if (new SpsReader(result).Error() is { } e) throw PeerError(e, service);
    }

    static LinkError PeerError(string message, string service)
    {
        string err = PeerText.OneLine(message);
        return new LinkError(err.StartsWith("executor", StringComparison.Ordinal) ? err : $"executor: {service}: {err}");
    }

    /// <summary>An empty result is how an out-of-band error crosses the wire (LLVM's executor sends one for a
    /// call it cannot answer); the executor's log says more.</summary>
    static LinkError NoResult(string service) => new($"executor: {service} failed (an empty result: the executor could not answer the call)");

    // Memory: reserve(size, placement) -> addr; release(addr, size); deallocate(handles).
    public static byte[] Reserve(ulong size, Placement placement) => new SpsWriter().U64(size).U8((byte)placement).ToArray();
    public static byte[] Release(ExecutorAddr addr, ulong size) => new SpsWriter().Addr(addr).U64(size).ToArray();
    public static byte[] Addresses(IReadOnlyList<ExecutorAddr> addrs)
    {
        var w = new SpsWriter(8 + 8 * addrs.Count);
        WriteAddrs(w, addrs);
        return w.ToArray();
    }
    public static ExecutorAddr[] ReadAddresses(ref SpsReader r)
    {
        var a = new ExecutorAddr[r.Count(8)];
        for (int i = 0; i < a.Length; i++) a[i] = r.Addr();
        return a;
    }

    // Finalize: segments (address, size, prot, lifetime, content) and actions (finalize call, optional dealloc call).
    public static byte[] Finalize(FinalizeRequest request)
    {
        int bytes = 64;
        foreach (var s in request.Segments) bytes += 40 + s.Content.Length;
        var w = new SpsWriter(bytes).U64((ulong)request.Segments.Count);
        foreach (var s in request.Segments) w.Addr(s.Address).U64(s.Size).U8((byte)s.Prot).U8((byte)s.Lifetime).Bytes(s.Content.Span);
        w.U64((ulong)request.Actions.Count);
        foreach (var a in request.Actions)
        {
            w.Addr(a.Finalize.Function).Bytes(a.Finalize.Argument ?? []).Bool(a.Dealloc is not null);
            if (a.Dealloc is { } d) w.Addr(d.Function).Bytes(d.Argument);
        }
        return w.ToArray();
    }

    public static FinalizeRequest ReadFinalize(ref SpsReader r)
    {
        var segs = new FinalizeSegment[r.Count(26)];
        for (int i = 0; i < segs.Length; i++)
            segs[i] = new FinalizeSegment(r.Addr(), r.U64(), (MemProt)r.U8(), (MemLifetime)r.U8(), r.Bytes().ToArray());
        var actions = new AllocActionCallPair[r.Count(17)];
        for (int i = 0; i < actions.Length; i++)
        {
            var fin = new WrapperCall(r.Addr(), r.Bytes().ToArray());
            WrapperCall? dealloc = r.Bool() ? new WrapperCall(r.Addr(), r.Bytes().ToArray()) : null;
            actions[i] = new AllocActionCallPair(fin, dealloc);
        }
        return new FinalizeRequest(segs, actions);
    }

    // Lookup: libraries to load, libraries to search (handles or LoadedInThisCall|index), names
    // -> (handles of the loaded libraries, one optional address per name).
    public static byte[] Lookup(IReadOnlyList<string> load, IReadOnlyList<ulong> search, IReadOnlyList<string> names)
    {
        var w = new SpsWriter(64 + names.Count * 24).U64((ulong)load.Count);
        foreach (var p in load) w.String(p);
        w.U64((ulong)search.Count);
        foreach (var s in search) w.U64(s);
        w.U64((ulong)names.Count);
        foreach (var n in names) w.String(n);
        return w.ToArray();
    }

    // Program: initializers, finalizers, DSO handle, main, arguments -> exit status (i32).
    public static byte[] Program(ProgramStart p)
    {
        var w = new SpsWriter(256);
        WriteAddrs(w, p.Initializers);
        WriteAddrs(w, p.Finalizers);
        w.Addr(p.DsoHandle).Addr(p.Main).U64((ulong)p.Arguments.Count);
        foreach (var a in p.Arguments) w.String(a);
        return w.ToArray();
    }

    public static ProgramStart ReadProgram(ref SpsReader r)
    {
        var inits = ReadAddresses(ref r);
        var finis = ReadAddresses(ref r);
        var dso = r.Addr();
        var main = r.Addr();
        var args = new string[r.Count(8)];
        for (int i = 0; i < args.Length; i++) args[i] = r.String();
        return new ProgramStart(inits, finis, dso, main, args);
    }

    public static void WriteAddrs(SpsWriter w, IReadOnlyList<ExecutorAddr> addrs)
    {
        w.U64((ulong)addrs.Count);
        foreach (var a in addrs) w.Addr(a);
    }
}
