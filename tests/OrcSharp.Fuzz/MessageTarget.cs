using OrcSharp.Executor;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Memory;
using OrcSharp.Shared;
using static OrcSharp.Executor.SimpleRemote.ExecutorServiceMessages;

namespace OrcSharp.Fuzz;

/// <summary>
/// The message target: a byte stream as the executor (or the controller) receives it goes through
/// SimpleRemoteTransport's framing, and each message's payload through the SPS decoding of the service
/// it is for (the executor's arguments; the controller's Setup and results), in memory. Nothing is
/// executed: a decoded request is not served. Services whose decoding lives inside their wrapper
/// function (reserve, release, lookup, TLS module) are decoded here step by step as the wrapper does.
/// </summary>
public static class MessageTarget
{
    /// <summary>The services a CallWrapper can name, in a fixed order: a seed's tag is its index + TagBase,
    /// and an unknown tag is decoded as service (tag mod count), so mutated tags still reach a decoder.</summary>
    static readonly string[] Services =
    [
        BootstrapNames.MemReserve, BootstrapNames.MemFinalize, BootstrapNames.MemDeallocate, BootstrapNames.MemRelease,
        BootstrapNames.Lookup, BootstrapNames.Describe, BootstrapNames.CreateTlsModule, BootstrapNames.RunInitializers,
        BootstrapNames.RunDeinitializers, BootstrapNames.RunProgram, BootstrapNames.ReleaseTlsModule,
        BootstrapNames.RegisterEhFrame, BootstrapNames.CopyRelocationApply,
    ];
    const ulong TagBase = 0x7e00_0000_1000;

    public static (Outcome Outcome, Exception? Error) Run(byte[] stream)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        (Outcome, Exception?) result;
        try
        {
            var transport = new SimpleRemoteTransport(new MemoryStream(stream, writable: false), Stream.Null);
            int messages = 0;
            while (transport.Receive() is { } m && messages++ < 64)
            {
                try { Decode(m); }
                catch (LinkError) { } // a bad payload is answered with an error; the stream goes on
            }
            result = (Outcome.Linked, null);
        }
        catch (LinkError e) { result = (Outcome.Refused, e); }
        catch (Exception e) { result = (Outcome.InternalError, e); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // A decoder may allocate what the message's bytes justify, a few times over; not what a header claims.
        if (allocated > 16L * stream.Length + (8 << 20)) return (Outcome.InternalError, new InputAllocationException(allocated, stream.Length));
        return result;
    }

    static void Decode(SimpleRemoteMessage m)
    {
        switch (m.Opcode)
        {
            case SimpleRemoteOpcode.Setup:
            {
                var setup = ExecutorSetupInfo.Decode(m.Payload);
                if (setup.BootstrapMap.TryGetValue(SimpleRemoteExecutorServer.InitialSlabKey, out var slab))
                {
                    var r = new SpsReader(slab);
                    r.Addr(); r.U64();
                }
                break;
            }
            case SimpleRemoteOpcode.CallWrapper:
                DecodeArguments(ServiceFor(m.TagAddr.Value), m.Payload);
                break;
            case SimpleRemoteOpcode.Result:
                DecodeResult(ServiceFor(m.SeqNo), m.Payload);
                break;
        }
    }

    static string ServiceFor(ulong tag) =>
        Services[(int)((tag >= TagBase ? tag - TagBase : tag) % (ulong)Services.Length)];

    /// <summary>The executor's side: a wrapper function's argument bytes.</summary>
    static void DecodeArguments(string service, byte[] payload)
    {
        var r = new SpsReader(payload);
        switch (service)
        {
            case BootstrapNames.MemReserve:
            {
                r.U64();
                byte placement = r.U8();
                if (placement > (byte)Placement.Low32) throw new LinkError($"malformed message: placement {placement}");
                break;
            }
            case BootstrapNames.MemFinalize: ReadFinalize(ref r); break;
            case BootstrapNames.MemDeallocate or BootstrapNames.Describe or BootstrapNames.RunInitializers: ReadAddresses(ref r); break;
            case BootstrapNames.MemRelease: r.Addr(); r.U64(); break;
            case BootstrapNames.Lookup:
            {
                int load = r.Count(8);
                for (int i = 0; i < load; i++) r.String();
                int search = r.Count(8);
                for (int i = 0; i < search; i++)
                {
                    ulong s = r.U64();
                    if ((s & LoadedInThisCall) != 0 && (s & ~LoadedInThisCall) >= (ulong)load) throw new LinkError("malformed message: library index");
                }
                int names = r.Count(8);
                for (int i = 0; i < names; i++) r.String();
                break;
            }
            case BootstrapNames.CreateTlsModule: r.Bytes(); r.U64(); r.U64(); break;
            case BootstrapNames.RunDeinitializers: r.Addr(); ReadAddresses(ref r); break;
            case BootstrapNames.RunProgram: ReadProgram(ref r); break;
            case BootstrapNames.ReleaseTlsModule or BootstrapNames.RegisterEhFrame: r.Addr(); break;
            case BootstrapNames.CopyRelocationApply:
            {
                int n = r.Count(32);
                for (int i = 0; i < n; i++) { r.String(); r.U64(); r.U64(); r.U64(); }
                break;
            }
        }
    }

    /// <summary>The controller's side: a wrapper function's result, as SimpleRemoteEPC reads it.</summary>
    static void DecodeResult(string service, byte[] payload)
    {
        var r = Expect(payload, service);
        switch (service)
        {
            case BootstrapNames.MemReserve or BootstrapNames.MemFinalize: r.Addr(); break;
            case BootstrapNames.Lookup:
            {
                ReadAddresses(ref r);
                int n = r.Count(9);
                for (int i = 0; i < n; i++) { r.Bool(); r.Addr(); }
                break;
            }
            case BootstrapNames.Describe:
            {
                int n = r.Count(10);
                for (int i = 0; i < n; i++) { r.Bool(); r.U64(); r.Bool(); }
                break;
            }
            case BootstrapNames.CreateTlsModule:
                if (r.Bool()) { r.Addr(); r.U64(); r.I64(); }
                else { r.U64(); r.String(); }
                break;
            case BootstrapNames.RunProgram: r.I32(); break;
        }
    }

    /// <summary>Valid streams of messages, each a few services' requests or results, built by the real encoders.</summary>
    public static List<byte[]> Seeds()
    {
        var seeds = new List<byte[]>();
        var a = new ExecutorAddr(0x7f00_1234_5000);
        var setup = new ExecutorSetupInfo("x86_64-unknown-linux-gnu", 4096,
            new Dictionary<string, byte[]> { [SimpleRemoteExecutorServer.InitialSlabKey] = new SpsWriter().Addr(a).U64(256 << 20).ToArray() },
            Services.Select((s, i) => (s, new ExecutorAddr(TagBase + (ulong)i))).ToDictionary(x => x.s, x => x.Item2));
        var finalize = new FinalizeRequest(
            [new FinalizeSegment(a, 8192, MemProt.Read | MemProt.Exec, MemLifetime.Standard, new byte[] { 0x55, 0x48, 0x89, 0xe5, 0xc3 }),
             new FinalizeSegment(a + 8192, 4096, MemProt.Read | MemProt.Write, MemLifetime.Finalize, new byte[24])],
            [new AllocActionCallPair(new WrapperCall(a + 64, [1, 2, 3]), new WrapperCall(a + 128, [4])),
             new AllocActionCallPair(new WrapperCall(a + 192, []), null)]);
        byte[][] args =
        [
            ExecutorServiceMessages.Reserve(256 << 20, Placement.NearLibraries),
            ExecutorServiceMessages.Finalize(finalize),
            Addresses([a, a + 4096]),
            Release(a, 4096),
            Lookup(["libc.so.6", "libm.so.6"], [0x1234, LoadedInThisCall | 1], ["puts", "printf", "__cxa_finalize"]),
            Addresses([a + 16]),
            new SpsWriter().Bytes([1, 2, 3, 4]).U64(64).U64(16).ToArray(),
            Addresses([a + 32, a + 48]),
            new SpsWriter().Addr(a).U64(1).Addr(a + 8).ToArray(),
            Program(new ProgramStart([a + 1], [a + 2], a + 3, a + 4, ["prog", "arg one", ""])),
            new SpsWriter().Addr(a).ToArray(),
            EhFrameRuntime.EncodeArgument(a),
            CopyRelocationRuntime.EncodeArgument([("stdout", a, a + 64, 8), ("optind", a + 8, a + 72, 4)]),
        ];
        byte[][] results =
        [
            Ok(w => w.Addr(a)),
            Ok(w => w.Addr(a)),
            Ok(),
            Ok(),
            Ok(w => { WriteAddrs(w, [a]); w.U64(3).Bool(true).Addr(a).Bool(false).Addr(default).Bool(true).Addr(a + 8); }),
            Ok(w => w.U64(2).Bool(true).U64(8).Bool(true).Bool(false).U64(0).Bool(false)),
            Ok(w => w.Bool(true).Addr(a).U64(3).I64(-256)),
            Failure("executor: something went wrong"),
            Ok(),
            Ok(w => w.I32(42)),
            Ok(w => w.Bool(false).U64(1 << 20).String("static TLS exhausted")),
            Ok(),
            Ok(),
        ];
        seeds.Add(Frame(SimpleRemoteOpcode.Setup, 0, default, setup.Encode()));
        for (int i = 0; i < Services.Length; i++)
        {
            var tag = new ExecutorAddr(TagBase + (ulong)i);
            seeds.Add(Frame(SimpleRemoteOpcode.CallWrapper, (ulong)i, tag, args[i]));
            seeds.Add(Frame(SimpleRemoteOpcode.Result, (ulong)i, default, results[i]));
        }
        // Streams of several messages: framing across message boundaries.
        seeds.Add([.. seeds[1], .. seeds[3], .. seeds[9], .. Frame(SimpleRemoteOpcode.Hangup, 0, default, [])]);
        seeds.Add([.. seeds[0], .. seeds[2], .. seeds[10]]);
        return seeds;
    }

    static byte[] Frame(SimpleRemoteOpcode op, ulong seq, ExecutorAddr tag, byte[] payload)
    {
        var ms = new MemoryStream();
        new SimpleRemoteTransport(Stream.Null, ms).Send(op, seq, tag, payload);
        return ms.ToArray();
    }
}
