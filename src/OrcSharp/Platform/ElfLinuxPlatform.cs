using OrcSharp.Executor;
using OrcSharp.JitLink;
using OrcSharp.JitLink.Elf;
using OrcSharp.Platform.Debugging;

namespace OrcSharp.Platform;

/// <summary>
/// The ELF/Linux platform (LLVM's ELFNixPlatform): the one place that says which platform passes every
/// link of a JITDylib gets, so that each link looks to the rest of the process like a loaded image.
/// A new platform feature (image registration, debugger support ...) is one more plugin here.
/// </summary>
public sealed class ElfLinuxPlatform(IExecutorControl executor, ILinkBackend backend)
{
    /// <summary>What links tell debuggers, profilers and crash reports.</summary>
    public DebugSupport Debugging { get; } = DebugSupport.FromEnvironment();

    /// <summary>The passes for one link of <paramref name="objects"/>; <paramref name="initFini"/> collects
    /// its initializers and finalizers. The link is presented to the process as a loaded image named
    /// <paramref name="imageName"/> whose dynamic symbols are the definitions <paramref name="isExported"/>
    /// accepts, and to debuggers as a debug object.</summary>
    public List<ILinkPlugin> PluginsForLink(InitFiniCollector initFini, string imageName, Func<Symbol, bool> isExported,
        IReadOnlyList<ElfObjectUnit> objects) =>
    [
        initFini,
        new CopyRelocations(executor, backend),
        new EhFrameRegistration(executor),
        new LoadedImageRegistration(executor, imageName, isExported),
        new DebugObjectRegistration(executor, objects, Debugging, backend.ElfMachine),
        // Last: its finalize action calls resolvers, which may read copied data or throw through eh-frames.
        new IndirectFunctions(executor, backend),
    ];
}
