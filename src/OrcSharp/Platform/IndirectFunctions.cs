using OrcSharp.Executor;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.JitLink;
using OrcSharp.Shared;

namespace OrcSharp.Platform;

/// <summary>
/// Indirect functions (STT_GNU_IFUNC: gcc's target_clones, __attribute__((ifunc)), CPU dispatch in
/// libraries), done as a static-PIE does with IRELATIVE: each gets a slot and a stub that jumps through
/// it, and the stub stands for the function everywhere (direct calls, GOT loads, pointers in data,
/// lookups by name), so function-pointer equality holds. At finalization, before any initializer, the
/// executor calls each resolver once and stores its answer in the slot.
/// </summary>
public sealed class IndirectFunctions(IExecutorControl executor, ILinkBackend backend) : ILinkPlugin
{
    public const string SlotSectionName = "$__IFUNC_SLOTS";
    readonly List<(Symbol Resolver, Symbol Slot)> _functions = new();

    public void PrePrune(LinkGraph graph)
    {
        // Every indirect function has a name: the link's global and local symbol lists hold them all.
        List<Symbol>? found = null;
        foreach (var list in new[] { graph.DefinedSymbols, graph.LocalSymbols })
            foreach (var s in list)
                if (s.IsIndirectFunction) (found ??= new()).Add(s);
        if (found is null) return;

        // Written by the executor after protection is applied, so the slots live in writable memory.
        var slots = graph.GetOrCreateSection(SlotSectionName, MemProt.Read | MemProt.Write);
        foreach (var function in found)
        {
            if (function.Kind != SymbolKind.Defined)
                throw new LinkError($"{function.Origin}: indirect function '{function.DisplayName}' is not defined in a loaded section");
            var resolver = Symbol.Defined(function.Name + " (resolver)", function.Block!, function.Offset, function.Size, Linkage.Strong, SymbolScope.Local, true);
            // Both stay through dead-stripping: the action calls the one and fills the other.
            function.Block!.KeepAlive = true;
            var slotBlock = new Block(slots, new byte[8], 8, 8, false, "<linker>", "IFUNC slot") { KeepAlive = true };
            slots.Blocks.Add(slotBlock);
            var slot = Symbol.Defined(null, slotBlock, 0, 8, Linkage.Strong, SymbolScope.Local, false);
            var stub = backend.CreateStub(graph, slot, function.Name);
            // The symbol itself now names the stub, so every edge and every lookup sees one address.
            function.Block = stub.Block;
            function.Offset = 0;
            function.Size = stub.Size;
            function.IsCallable = true;
            function.IsIndirectFunction = false;
            _functions.Add((resolver, slot));
        }
    }

    public void AddFinalizeActions(LinkGraph graph, List<AllocActionCallPair> actions)
    {
        if (_functions.Count == 0) return;
        var arg = IndirectFunctionRuntime.EncodeArgument(_functions.Select(f => (f.Resolver.Address, f.Slot.Address)));
        if (!executor.BootstrapSymbols.TryGetValue(BootstrapNames.ResolveIndirectFunctions, out var resolve))
            throw new LinkError($"indirect functions need the executor service {BootstrapNames.ResolveIndirectFunctions}, which this executor (LLVM's standard services only) does not provide");
        actions.Add(new AllocActionCallPair(new WrapperCall(resolve, arg), null));
    }
}
