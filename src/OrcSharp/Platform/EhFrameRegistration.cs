using OrcSharp.Executor;
using OrcSharp.JitLink;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Platform;

/// <summary>
/// Makes a link's .eh_frame known to the system unwinder so C++ exceptions propagate through JIT'd
/// frames: the section gets its zero terminator, registration is a finalize action and deregistration
/// the paired dealloc action, so removed code can no longer be unwound into.
/// </summary>
public sealed class EhFrameRegistration(IExecutorControl executor) : ILinkPlugin
{
    public void PrePrune(LinkGraph graph)
    {
        if (graph.FindSection(".eh_frame") is not { Blocks.Count: > 0 } section) return;
        section.Blocks.RemoveAll(b => b.Size == 0);
        if (section.Blocks.Count == 0) return;
        section.Blocks.Add(new Block(section, new byte[4], 4, 4, false, "<linker>", ".eh_frame terminator") { KeepAlive = true });
    }

    /// <summary>Bounds check before anything is registered: every FDE must describe code of this link
    /// (the unwinder consults registered tables for every address in the process).</summary>
    public void PostFixup(LinkGraph graph, Func<Block, ReadOnlyMemory<byte>> fixedUpContent)
    {
        if (graph.FindSection(".eh_frame") is not { Blocks.Count: > 1 } section) return;
        var code = graph.Sections.Where(s => (s.Prot & MemProt.Exec) != 0).SelectMany(s => s.Blocks).Where(b => b.Size > 0)
            .Select(b => (Start: b.Address.Value, End: b.Address.Value + b.Size)).OrderBy(r => r.Start).ToArray();
        var starts = code.Select(r => r.Start).ToArray();
        bool IsLinkCode(ulong start, ulong end)
        {
            int i = Array.BinarySearch(starts, start);
            if (i < 0) i = ~i - 1; // the last block starting at or before `start`
            return i >= 0 && end <= code[i].End;
        }
        foreach (var block in section.Blocks)
            if (!block.KeepAlive)
                JitLink.Elf.EhFrameSection.CheckCodeRanges(fixedUpContent(block).Span, block.Address.Value, IsLinkCode, $"{block.SourceFile}: section .eh_frame");
    }

    public void AddFinalizeActions(LinkGraph graph, List<AllocActionCallPair> actions)
    {
        // The section's first block, once dead-stripping has removed the frames of stripped code.
        if (graph.FindSection(".eh_frame") is not { Blocks.Count: > 1 } section) return;
        var start = section.Blocks[0].Address;
        var boot = executor.BootstrapSymbols;
        if (boot.TryGetValue(BootstrapNames.RegisterEhFrame, out var register) && boot.TryGetValue(BootstrapNames.DeregisterEhFrame, out var deregister))
        {
            var arg = EhFrameRuntime.EncodeArgument(start);
            actions.Add(new AllocActionCallPair(new WrapperCall(register, arg), new WrapperCall(deregister, arg)));
            return;
        }
        // LLVM's executor: its registration wrappers take the section's range.
        if (!boot.TryGetValue(LlvmBootstrapNames.RegisterEhFrame, out register) || !boot.TryGetValue(LlvmBootstrapNames.DeregisterEhFrame, out deregister))
            throw new LinkError($"executor provides neither {BootstrapNames.RegisterEhFrame} nor {LlvmBootstrapNames.RegisterEhFrame} (eh-frame registration)");
        ulong end = section.Blocks.Max(b => b.Address.Value + b.Size);
        var range = new SpsWriter().Addr(start).Addr(new ExecutorAddr(end)).ToArray();
        actions.Add(new AllocActionCallPair(new WrapperCall(register, range), new WrapperCall(deregister, range)));
    }
}
