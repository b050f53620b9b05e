using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.X86_64;

/// <summary>
/// The x86-64 thread-local access pass. Every thread-local block of a link lives in static TLS (see
/// ThreadLocalImage), so, as a native executable link does, the general-dynamic, local-dynamic,
/// initial-exec and descriptor sequences are rewritten to local-exec ones: %fs-relative accesses with
/// the offset known at fixup time, no __tls_get_addr call, no GOT load. Code that does not match the
/// psABI sequences keeps its dynamic form with real GOT entries (module id and offset pairs, TP-offset
/// entries, static TLS descriptors), which glibc's __tls_get_addr serves just as well.
/// Code sequences: psABI "ELF Handling For Thread-Local Storage" and the TLSDESC proposal.
/// </summary>
sealed class X86_64TlsRelaxation
{
    const string TlsGetAddr = "__tls_get_addr";
    // call *(%rax) on a static descriptor {resolver, offset}: the resolver returns the offset.
    static readonly byte[] StaticDescriptorResolver = { 0x48, 0x8b, 0x40, 0x08, 0xc3 }; // mov 8(%rax),%rax; ret

    readonly LinkGraph _graph;
    readonly Dictionary<(Symbol, X86Edge), Symbol> _gotEntries = new();
    Symbol? _resolver;

    X86_64TlsRelaxation(LinkGraph graph) => _graph = graph;

    static bool IsRequest(ushort k) => (X86Edge)k is >= X86Edge.RequestTlsGd and <= X86Edge.TlsDescCall;

    public static void Run(LinkGraph graph)
    {
        List<Block>? blocks = null;
        bool anyDtpOff = false;
        foreach (var b in graph.Blocks)
        {
            bool requests = false;
            foreach (ref readonly var e in CollectionsMarshal.AsSpan(b.Edges))
            {
                requests |= IsRequest(e.Kind);
                anyDtpOff |= (X86Edge)e.Kind is X86Edge.DtpOff32 or X86Edge.DtpOff64;
            }
            if (requests) (blocks ??= new()).Add(b);
        }
        if (blocks is null) return;
        new X86_64TlsRelaxation(graph).Rewrite(blocks, anyDtpOff);
    }

    void Rewrite(List<Block> blocks, bool anyDtpOff)
    {
        // Local-dynamic and descriptor sequences are relaxed all or nothing: a relaxed local-dynamic base
        // makes every DTPOFF a TP offset, and a relaxed descriptor load drops its call.
        bool relaxLd = true, relaxDesc = true;
        foreach (var b in blocks)
        {
            var code = b.Content.Span;
            foreach (ref readonly var e in CollectionsMarshal.AsSpan(b.Edges))
                switch ((X86Edge)e.Kind)
                {
                    case X86Edge.RequestTlsLd: relaxLd &= MatchLd(b, code, (int)e.Offset, out _); break;
                    case X86Edge.RequestTlsDesc: relaxDesc &= MatchDescLoad(code, (int)e.Offset); break;
                    case X86Edge.TlsDescCall: relaxDesc &= code.Length >= e.Offset + 2 && code[(int)e.Offset] == 0xff && code[(int)e.Offset + 1] == 0x10; break;
                }
        }

        foreach (var b in blocks) RewriteBlock(b, relaxLd, relaxDesc);
        if (relaxLd && anyDtpOff)
            foreach (var b in _graph.Blocks)
            {
                if (b.Section.IsThreadLocal) continue;
                var edges = CollectionsMarshal.AsSpan(b.Edges);
                for (int i = 0; i < edges.Length; i++)
                    if ((X86Edge)edges[i].Kind is X86Edge.DtpOff32) edges[i].Kind = (ushort)X86Edge.TpOff32;
                    else if ((X86Edge)edges[i].Kind is X86Edge.DtpOff64) edges[i].Kind = (ushort)X86Edge.TpOff64;
            }
    }

    void RewriteBlock(Block block, bool relaxLd, bool relaxDesc)
    {
        var code = WritableContent(block);
        var edges = CollectionsMarshal.AsSpan(block.Edges);
        bool removed = false;
        for (int i = 0; i < edges.Length; i++)
        {
            ref var e = ref edges[i];
            int at = (int)e.Offset;
            switch ((X86Edge)e.Kind)
            {
                case X86Edge.RequestTlsGd:
                    if (MatchGd(block, code, at, out int gdCall))
                    {
                        // data16 lea x@tlsgd(%rip),%rdi; data16 data16 rex64 call __tls_get_addr
                        //   → mov %fs:0,%rax; lea x@tpoff(%rax),%rax
                        ReadOnlySpan<byte> le = [0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x48, 0x8d, 0x80, 0, 0, 0, 0];
                        le.CopyTo(code.AsSpan(at - 4));
                        edges[gdCall].Kind = 0; removed = true;
                        e = new Edge((ushort)X86Edge.TpOff32, (uint)(at + 8), e.Target, e.Addend + 4);
                    }
                    else e = new Edge((ushort)X86Edge.Delta32, e.Offset, GotPair(e.Target, X86Edge.RequestTlsGd), e.Addend);
                    break;
                case X86Edge.RequestTlsLd:
                    if (relaxLd && MatchLd(block, code, at, out int ldCall))
                    {
                        // lea x@tlsld(%rip),%rdi; call __tls_get_addr → (prefixes) mov %fs:0,%rax
                        ReadOnlySpan<byte> le = [0x66, 0x66, 0x66, 0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0];
                        if (code[at + 4] == 0xe8) le.CopyTo(code.AsSpan(at - 3));
                        else { code[at - 3] = 0x66; le.CopyTo(code.AsSpan(at - 2)); }
                        edges[ldCall].Kind = 0;
                        e.Kind = 0; removed = true;
                    }
                    else e = new Edge((ushort)X86Edge.Delta32, e.Offset, GotPair(e.Target, X86Edge.RequestTlsLd), e.Addend);
                    break;
                case X86Edge.RequestGotTpOff:
                    if (RelaxInitialExec(code, at)) e = new Edge((ushort)X86Edge.TpOff32, e.Offset, e.Target, e.Addend + 4);
                    else e = new Edge((ushort)X86Edge.Delta32, e.Offset, GotPair(e.Target, X86Edge.RequestGotTpOff), e.Addend);
                    break;
                case X86Edge.RequestTlsDesc:
                    if (relaxDesc)
                    {
                        // lea x@tlsdesc(%rip),%rax → mov $x@tpoff,%rax
                        code[at - 2] = 0xc7; code[at - 1] = 0xc0;
                        e = new Edge((ushort)X86Edge.TpOff32, e.Offset, e.Target, e.Addend + 4);
                    }
                    else e = new Edge((ushort)X86Edge.Delta32, e.Offset, GotPair(e.Target, X86Edge.RequestTlsDesc), e.Addend);
                    break;
                case X86Edge.TlsDescCall:
                    if (relaxDesc) { code[at] = 0x66; code[at + 1] = 0x90; } // call *(%rax) → xchg %ax,%ax
                    e.Kind = 0; removed = true;
                    break;
            }
        }
        if (removed) block.Edges.RemoveAll(x => x.Kind == 0);
    }

    static byte[] WritableContent(Block block)
    {
        var copy = block.Content.ToArray();
        block.Content = copy;
        return copy;
    }

    /// <summary>The general-dynamic call sequence around a TLSGD field, with its __tls_get_addr call edge
    /// (PLT32 "call" or GOTPCRELX "call *GOT(%rip)") at field + 8.</summary>
    static bool MatchGd(Block block, ReadOnlySpan<byte> code, int at, out int callEdge)
    {
        callEdge = -1;
        if (at < 4 || at + 12 > code.Length) return false;
        if (!code.Slice(at - 4, 4).SequenceEqual((ReadOnlySpan<byte>)[0x66, 0x48, 0x8d, 0x3d])) return false;
        var call = code.Slice(at + 4, 4);
        if (!call.SequenceEqual((ReadOnlySpan<byte>)[0x66, 0x66, 0x48, 0xe8]) && !call.SequenceEqual((ReadOnlySpan<byte>)[0x66, 0x48, 0xff, 0x15])) return false;
        callEdge = FindCall(block, at + 8);
        return callEdge >= 0;
    }

    /// <summary>The local-dynamic sequence: "lea x@tlsld(%rip),%rdi" then "call __tls_get_addr" (e8) or
    /// "call *__tls_get_addr@GOTPCREL(%rip)" (ff 15).</summary>
    static bool MatchLd(Block block, ReadOnlySpan<byte> code, int at, out int callEdge)
    {
        callEdge = -1;
        if (at < 3 || at + 10 > code.Length) return false;
        if (!code.Slice(at - 3, 3).SequenceEqual((ReadOnlySpan<byte>)[0x48, 0x8d, 0x3d])) return false;
        if (code[at + 4] == 0xe8) callEdge = FindCall(block, at + 5);
        else if (code[at + 4] == 0xff && code[at + 5] == 0x15) callEdge = FindCall(block, at + 6);
        return callEdge >= 0;
    }

    static int FindCall(Block block, int offset)
    {
        var edges = CollectionsMarshal.AsSpan(block.Edges);
        for (int i = 0; i < edges.Length; i++)
            if (edges[i].Offset == offset && edges[i].Target.Name == TlsGetAddr &&
                (X86Edge)edges[i].Kind is X86Edge.BranchPCRel32 or X86Edge.Delta32 or X86Edge.RequestGotDelta32Relax or X86Edge.RequestGotDelta32)
                return i;
        return -1;
    }

    static bool MatchDescLoad(ReadOnlySpan<byte> code, int at) =>
        at >= 3 && code.Slice(at - 3, 3).SequenceEqual((ReadOnlySpan<byte>)[0x48, 0x8d, 0x05]);

    /// <summary>"movq x@gottpoff(%rip),%reg" → "movq $x@tpoff,%reg"; "addq x@gottpoff(%rip),%reg" →
    /// "leaq x@tpoff(%reg),%reg" (or "addq $x@tpoff,%reg" for %rsp/%r12, whose lea would not fit).</summary>
    static bool RelaxInitialExec(Span<byte> code, int at)
    {
        if (at < 3) return false;
        byte rex = code[at - 3], op = code[at - 2], modrm = code[at - 1];
        if ((rex != 0x48 && rex != 0x4c) || (modrm & 0xc7) != 0x05) return false; // REX.W, [rip+disp32]
        int reg = (modrm >> 3) & 7;
        bool high = rex == 0x4c;
        if (op == 0x8b)
        {
            code[at - 3] = high ? (byte)0x49 : (byte)0x48;
            code[at - 2] = 0xc7;
            code[at - 1] = (byte)(0xc0 | reg);
            return true;
        }
        if (op != 0x03) return false;
        if (reg == 4) // %rsp or %r12
        {
            code[at - 3] = high ? (byte)0x49 : (byte)0x48;
            code[at - 2] = 0x81;
            code[at - 1] = 0xc4;
            return true;
        }
        code[at - 3] = high ? (byte)0x4d : (byte)0x48;
        code[at - 2] = 0x8d;
        code[at - 1] = (byte)(0x80 | (reg << 3) | reg);
        return true;
    }

    /// <summary>GOT entries for code left in dynamic form: {M, S} for general-dynamic, {M, 0} for
    /// local-dynamic, {S + TP} for initial-exec, {resolver, S + TP} as a static TLS descriptor. A
    /// thread-local defined outside the link (by an earlier link or a shared library) is known by its
    /// offset from the thread pointer only, which serves the last two.</summary>
    Symbol GotPair(Symbol target, X86Edge request)
    {
        if (target.Kind == SymbolKind.External && request is X86Edge.RequestTlsGd or X86Edge.RequestTlsLd)
            throw new LinkError($"thread-local '{target.Name}', defined outside this link, is accessed with a {(request == X86Edge.RequestTlsGd ? "general" : "local")}-dynamic code sequence that cannot be rewritten to local-exec; only the psABI sequences can reach thread-locals of earlier links and shared libraries that way");
        var key = (request == X86Edge.RequestTlsLd ? LocalDynamicKey : target, request);
        if (_gotEntries.TryGetValue(key, out var entry)) return entry;
        var got = _graph.GetOrCreateSection(X86_64Backend.GotSectionName, MemProt.Read);
        ulong size = request == X86Edge.RequestGotTpOff ? 8UL : 16UL;
        var block = new Block(got, new byte[size], size, 8, false, "<linker>", "TLS GOT", 2);
        switch (request)
        {
            case X86Edge.RequestTlsGd:
                block.Edges.Add(new Edge((ushort)X86Edge.DtpMod64, 0, target, 0));
                block.Edges.Add(new Edge((ushort)X86Edge.DtpOff64, 8, target, 0));
                break;
            case X86Edge.RequestTlsLd:
                block.Edges.Add(new Edge((ushort)X86Edge.DtpMod64, 0, target, 0));
                break;
            case X86Edge.RequestGotTpOff:
                block.Edges.Add(new Edge((ushort)X86Edge.TpOff64, 0, target, 0));
                break;
            default:
                block.Edges.Add(new Edge((ushort)X86Edge.Pointer64, 0, Resolver(), 0));
                block.Edges.Add(new Edge((ushort)X86Edge.TpOff64, 8, target, 0));
                break;
        }
        got.Blocks.Add(block);
        entry = Symbol.Defined(null, block, 0, size, Linkage.Strong, SymbolScope.Local, false);
        _gotEntries.Add(key, entry);
        return entry;
    }

    static readonly Symbol LocalDynamicKey = Symbol.Absolute("<local-dynamic module>", 0);

    Symbol Resolver()
    {
        if (_resolver is not null) return _resolver;
        var stubs = _graph.GetOrCreateSection(X86_64Backend.StubSectionName, MemProt.Read | MemProt.Exec);
        var block = new Block(stubs, StaticDescriptorResolver, (ulong)StaticDescriptorResolver.Length, 16, false, "<linker>", "TLS descriptor resolver");
        stubs.Blocks.Add(block);
        return _resolver = Symbol.Defined("<static TLS descriptor resolver>", block, 0, block.Size, Linkage.Strong, SymbolScope.Local, true);
    }
}
