using OrcSharp.Executor;
using OrcSharp.JitLink;

namespace OrcSharp.Platform;

/// <summary>
/// The ELF/Linux platform (LLVM's ELFNixPlatform): the one place that says which platform passes every
/// link of a JITDylib gets, so that each link looks to the rest of the process like a loaded image.
/// A new platform feature (image registration, debugger support ...) is one more plugin here.
/// </summary>
public sealed class ElfLinuxPlatform(IExecutorControl executor, ILinkBackend backend)
{
    /// <summary>The passes for one link; <paramref name="initFini"/> collects its initializers and finalizers.
    /// The link is presented to the process as a loaded image named <paramref name="imageName"/> whose
    /// dynamic symbols are the definitions <paramref name="isExported"/> accepts.</summary>
    public List<ILinkPlugin> PluginsForLink(InitFiniCollector initFini, string imageName, Func<Symbol, bool> isExported) =>
    [
        initFini,
        new CopyRelocations(executor, backend),
        new EhFrameRegistration(executor),
        new LoadedImageRegistration(executor, imageName, isExported),
        // Last: its finalize action calls resolvers, which may read copied data or throw through eh-frames.
        new IndirectFunctions(executor, backend),
    ];
}
