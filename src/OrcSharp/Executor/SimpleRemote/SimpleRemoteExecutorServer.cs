using System.Runtime.InteropServices;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Memory;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// The executor end of SimpleRemoteEPC: announces itself (Setup), then serves CallWrapper messages, each
/// on its own thread so many calls can be in flight, until the controller hangs up or goes away. Only the
/// wrapper functions it announced can be called; anything malformed gets an error reply or, when the
/// stream itself is broken, a clean hang-up. Nothing a controller sends can crash it.
/// </summary>
public sealed class SimpleRemoteExecutorServer
{
    /// <summary>Bootstrap-map key of the slab reserved near the C library at start-up (SPS: address,
    /// size), so the controller's first allocation costs no round trip.</summary>
    public const string InitialSlabKey = "orcsharp.initial_slab";
    /// <summary>JIT'd code (a program's main) runs on these threads: as much stack as a main thread.</summary>
    const int WorkerStackSize = 16 << 20;

    readonly SimpleRemoteTransport _transport;
    readonly IReadOnlyDictionary<string, ExecutorAddr> _bootstrap = BootstrapSymbols.Get();
    readonly HashSet<ulong> _callable;
    readonly ExecutorAddr _runProgram;
    readonly TextWriter _log;

    public SimpleRemoteExecutorServer(SimpleRemoteTransport transport, TextWriter log)
    {
        _transport = transport; _log = log;
        _callable = _bootstrap.Values.Select(a => a.Value).ToHashSet();
        _runProgram = _bootstrap[BootstrapNames.RunProgram];
    }

    /// <summary>Serves until hang-up; returns the process exit status (0 clean, 1 broken stream).</summary>
    public int Run()
    {
        var map = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        try
        {
            var slab = ExecutorServices.Memory.Reserve(SlabMemoryManager.DefaultSlabSize, Placement.NearLibraries);
            map[InitialSlabKey] = new SpsWriter().Addr(slab).U64(SlabMemoryManager.DefaultSlabSize).ToArray();
        }
        catch (LinkError) { } // the controller reserves on demand instead
        var setup = new ExecutorSetupInfo(HostArchitecture.Triple, ExecutorMemory.PageSize, map, _bootstrap);
        try { _transport.Send(SimpleRemoteOpcode.Setup, 0, default, setup.Encode()); }
        catch (IOException e) { _log.WriteLine($"orcsharp executor: error: cannot send setup: {e.Message}"); return 1; }

        while (true)
        {
            SimpleRemoteMessage? msg;
            try { msg = _transport.Receive(); }
            catch (Exception e) when (e is LinkError or IOException)
            {
                _log.WriteLine($"orcsharp executor: error: {e.Message}; hanging up");
                TrySend(SimpleRemoteOpcode.Hangup, 0, []);
                return 1;
            }
            if (msg is not { } m || m.Opcode == SimpleRemoteOpcode.Hangup) return 0;
            if (m.Opcode != SimpleRemoteOpcode.CallWrapper)
            {
                _log.WriteLine($"orcsharp executor: error: unexpected {m.Opcode} message from the controller; hanging up");
                TrySend(SimpleRemoteOpcode.Hangup, 0, []);
                return 1;
            }
            if (!_callable.Contains(m.TagAddr.Value))
            {
                TrySend(SimpleRemoteOpcode.Result, m.SeqNo, ExecutorServiceMessages.Failure($"executor: no wrapper function at {m.TagAddr}"));
                continue;
            }
            var call = m;
            var worker = new Thread(() => Serve(call), WorkerStackSize) { IsBackground = true, Name = "orcsharp-call" };
            worker.Start();
        }
    }

    void Serve(SimpleRemoteMessage m)
    {
        if (m.TagAddr == _runProgram)
            ExecutorServices.ProgramExitReporter = status =>
                TrySend(SimpleRemoteOpcode.Result, m.SeqNo, ExecutorServiceMessages.Ok(w => w.I32(status)));
        byte[] result;
        try { result = WrapperFunctions.Call(m.TagAddr, m.Payload); }
        catch (LinkError e) { result = ExecutorServiceMessages.Failure(e.Message); }
        TrySend(SimpleRemoteOpcode.Result, m.SeqNo, result);
    }

    void TrySend(SimpleRemoteOpcode op, ulong seq, ReadOnlySpan<byte> payload)
    {
        try { _transport.Send(op, seq, default, payload); }
        catch (IOException) { } // the controller is gone; the read loop sees it too
        catch (ObjectDisposedException) { }
    }
}
