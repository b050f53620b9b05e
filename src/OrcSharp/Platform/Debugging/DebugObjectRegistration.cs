using OrcSharp.Executor;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.JitLink;
using OrcSharp.JitLink.Elf;
using OrcSharp.Shared;

namespace OrcSharp.Platform.Debugging;

/// <summary>
/// Makes a link visible to debuggers, profilers and crash reports: once fixups are done it builds the
/// link's <see cref="DebugObject"/>, and registers it in the executor as a finalize action (GDB JIT
/// interface, crash-report tables, perf map and jitdump as asked) whose paired dealloc action unregisters
/// it, so nothing stale is left after the link is removed.
/// </summary>
public sealed class DebugObjectRegistration(IExecutorControl executor, IReadOnlyList<ElfObjectUnit> objects, DebugSupport options, ushort elfMachine) : ILinkPlugin
{
    DebugObject? _object;

    public void PostFixup(LinkGraph graph, Func<Block, ReadOnlyMemory<byte>> fixedUp)
    {
        if (options.DebugObjects) _object = DebugObjectBuilder.Build(graph, objects, elfMachine, DebugObjectRuntime.RegistrationHeaderSize);
    }

    public void AddFinalizeActions(LinkGraph graph, List<AllocActionCallPair> actions)
    {
        if (_object is not { } o) return;
        var boot = executor.BootstrapSymbols;
        // An executor without the service (another implementation of the protocol) runs the code all the same.
        if (!boot.TryGetValue(BootstrapNames.RegisterDebugObject, out var register) || !boot.TryGetValue(BootstrapNames.DeregisterDebugObject, out var deregister))
            return;
        var outputs = (options.PerfMap ? DebugObjectRuntime.Outputs.PerfMap : 0) | (options.JitDump ? DebugObjectRuntime.Outputs.JitDump : 0);
        // The image was built after room for the message header: the argument is that one buffer.
        DebugObjectRuntime.WriteRegistrationHeader(o.Buffer, o.Key, o.TableOffset, o.TailAddress, o.TailSize, outputs);
        actions.Add(new AllocActionCallPair(new WrapperCall(register, o.Buffer), new WrapperCall(deregister, DebugObjectRuntime.EncodeKey(o.Key))));
        _object = null;
    }
}
