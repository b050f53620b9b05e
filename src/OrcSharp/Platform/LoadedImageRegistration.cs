using static OrcSharp.ObjectFile.Elf.ElfAbi;
using OrcSharp.Executor;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.JitLink;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.Platform;

/// <summary>
/// Makes each link a loaded image to the rest of the executor process, as the link of an executable
/// with -rdynamic is: its exported definitions go into the dynamic loader's global scope (libraries
/// opened later bind to them, dlsym(RTLD_DEFAULT) finds them), and dl_iterate_phdr, dladdr and
/// backtrace_symbols report it with its segments, thread-locals and unwind table. The executor does it
/// at finalization with a stub shared object built here (<see cref="LoadedImageRuntime"/>), and undoes it
/// at deallocation, before the memory goes. See docs/loaded-images.md.
/// </summary>
public sealed class LoadedImageRegistration(IExecutorControl executor, string imageName, Func<Symbol, bool> isExported) : ILinkPlugin
{
    /// <summary>The section index the stub's defined symbols claim: any ordinary one, so that dladdr
    /// considers them (it skips SHN_ABS) and the loader adds the load bias, which is 0 once registered.</summary>
    const ushort DefinedSection = 1;

    public void AddFinalizeActions(LinkGraph graph, List<AllocActionCallPair> actions)
    {
        var segments = Segments(graph);
        if (segments.Count == 0) return;
        var writer = new ElfSharedObjectWriter(graph.Arch == TargetArch.AArch64 ? ElfAbi.EmAArch64 : ElfAbi.EmX86_64);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in graph.DefinedSymbols)
        {
            if (!isExported(s) || !seen.Add(s.Name!)) continue;
            byte binding = s.Linkage == Linkage.Weak ? ElfAbi.StbWeak : ElfAbi.StbGlobal;
            writer.AddSymbol(s.Kind == SymbolKind.Absolute
                ? new ElfDynamicSymbol(s.Name!, s.Offset, 0, ElfAbi.SttNoType, binding, ElfAbi.ShnAbs)
                : new ElfDynamicSymbol(s.Name!, s.Address.Value, s.Size, s.IsCallable ? ElfAbi.SttFunc : ElfAbi.SttObject, binding, DefinedSection));
        }
        var ehFrameHeader = EhFrameHeader.Build(graph);
        int hdr = ehFrameHeader is null ? -1 : writer.AddData(ehFrameHeader, 8);
        var stub = writer.Build();

        var key = segments[0].Address;
        var request = new LoadedImageRequest(key, imageName, stub.File, (ulong)stub.SymbolTableOffset, (ulong)stub.SymbolCount,
            hdr < 0 ? 0 : (ulong)stub.DataOffsets[hdr], (ulong)(ehFrameHeader?.Length ?? 0), segments,
            graph.TlsModule?.Handle ?? default);
        var boot = executor.BootstrapSymbols;
        // LLVM's executor has no such service: the link is then unknown to the dynamic loader, as under llvm-jitlink.
        if (!boot.ContainsKey(BootstrapNames.RegisterImage)) return;
        actions.Add(new AllocActionCallPair(
            new WrapperCall(boot[BootstrapNames.RegisterImage], request.Encode()),
            new WrapperCall(boot[BootstrapNames.DeregisterImage], LoadedImageRuntime.EncodeDeregisterArgument(key))));
    }

    /// <summary>The link's segments that live as long as it does, one per protection, as PT_LOADs
    /// (finalize-lifetime memory is gone after finalization; thread-locals are the TLS module's).</summary>
    static List<ImageSegment> Segments(LinkGraph graph)
    {
        var ranges = new Dictionary<MemProt, (ulong Start, ulong End)>();
        foreach (var section in graph.Sections)
        {
            if (section.IsThreadLocal || section.Lifetime != MemLifetime.Standard) continue;
            foreach (var b in section.Blocks)
            {
                ulong start = b.Address.Value, end = start + b.Size;
                ranges[section.Prot] = ranges.TryGetValue(section.Prot, out var r) ? (Math.Min(r.Start, start), Math.Max(r.End, end)) : (start, end);
            }
        }
        return ranges.OrderBy(r => r.Value.Start)
            .Select(r => new ImageSegment(new ExecutorAddr(r.Value.Start), r.Value.End - r.Value.Start,
                ((r.Key & MemProt.Read) != 0 ? PfR : 0) | ((r.Key & MemProt.Write) != 0 ? PfW : 0) | ((r.Key & MemProt.Exec) != 0 ? PfX : 0)))
            .ToList();
    }
}
