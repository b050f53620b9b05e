using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// The thread-local sections of a link laid out as one TLS block, the way a linker builds PT_TLS:
/// initialized data (.tdata) first, then zero-fill (.tbss). Thread-local blocks are not placed in executor
/// memory: a block's <see cref="Block.Address"/> is its offset in the TLS block, so a thread-local
/// symbol's address is its offset from the module's TLS base (what DTPOFF relocations want).
/// </summary>
public sealed class ThreadLocalImage
{
    public List<Block> ContentBlocks { get; } = new();
    public ulong FileSize { get; private set; }
    public ulong MemSize { get; private set; }
    public ulong Alignment { get; private set; } = 1;
    public bool IsEmpty => MemSize == 0;

    public static ThreadLocalImage Compute(LinkGraph graph)
    {
        var image = new ThreadLocalImage();
        var sections = graph.Sections.Where(s => s.IsThreadLocal && s.Blocks.Count > 0).OrderBy(s => s.Ordinal).ToList();
        ulong offset = 0;
        foreach (bool zero in new[] { false, true })
        {
            foreach (var section in sections)
                foreach (var block in section.Blocks)
                {
                    if (block.IsZeroFill != zero) continue;
                    offset = (offset + block.Alignment - 1) & ~(block.Alignment - 1);
                    image.Alignment = Math.Max(image.Alignment, block.Alignment);
                    block.Address = new ExecutorAddr(offset);
                    offset += block.Size;
                    if (!zero) image.ContentBlocks.Add(block);
                }
            if (!zero) image.FileSize = offset;
        }
        image.MemSize = offset;
        // Refused here, before the executor is asked: a larger block cannot be placed by glibc, and a
        // restart with a reserve that size dies before main.
        if (offset > LinkLimits.MaxThreadLocalBytes)
            throw new LinkError($"{graph.Name}: thread-local storage of {offset} bytes is more than the {LinkLimits.Describe(LinkLimits.MaxThreadLocalBytes)} limit");
        return image;
    }

    /// <summary>The initial image (the PT_TLS file part) with the fixups of its blocks applied. Those
    /// refer to ordinary symbols, so this runs after allocation and before the module exists.</summary>
    public byte[] BuildInitialImage(ILinkBackend backend, in FixupContext context)
    {
        var bytes = new byte[FileSize];
        foreach (var block in ContentBlocks)
        {
            var mem = bytes.AsSpan((int)block.Address.Value, (int)block.Size);
            block.Content.Span.CopyTo(mem);
            if (block.Edges.Count > 0) backend.ApplyFixups(block, mem, context);
        }
        return bytes;
    }
}

/// <summary>A TLS block as the executor's dynamic loader owns it: its module id (for __tls_get_addr) and
/// the fixed offset of its start from the thread pointer in every thread (for the static models).</summary>
public readonly record struct TlsModule(ExecutorAddr Handle, ulong ModuleId, long ThreadPointerOffset);

/// <summary>Thread-locals of shared libraries made reachable for a link: the module that holds them in
/// static TLS (null when no name was found) and each name's offset from the thread pointer.</summary>
public readonly record struct TlsImports(TlsModule? Module, long?[] ThreadPointerOffsets);

/// <summary>Where thread-local blocks come to life: the executor registers a link's TLS image with its
/// thread library so every thread, existing or future, gets an initialized copy.</summary>
public interface ITlsModuleHost
{
    /// <summary>Registers the image. Throws <see cref="StaticTlsExhaustedError"/> when it does not fit.</summary>
    TlsModule CreateTlsModule(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment);
    /// <summary>Brings thread-locals defined by the executor's loaded shared libraries into static TLS, as
    /// a native executable's initial-exec references do, and returns each name's offset from the thread
    /// pointer (the same in every thread; null where no library defines the name), with the module to
    /// release with the allocation that uses them. Throws <see cref="StaticTlsExhaustedError"/> when the
    /// libraries' blocks do not fit.</summary>
    TlsImports ImportThreadLocals(IReadOnlyList<string> names);
    /// <summary>The dealloc action that releases the module with the allocation that uses it.</summary>
    WrapperCall ReleaseAction(TlsModule module);
    /// <summary>Releases a module whose link failed before finalization.</summary>
    void ReleaseTlsModule(TlsModule module);
}

/// <summary>The thread library has no static TLS space left for a block of this size. A process started
/// with more reserve (glibc: GLIBC_TUNABLES=glibc.rtld.optional_static_tls=N) can load it.</summary>
public sealed class StaticTlsExhaustedError(ulong requiredBytes, string detail)
    : LinkError($"thread-local storage of {requiredBytes} bytes does not fit in the static TLS reserve ({detail}); " +
                $"start the process with GLIBC_TUNABLES=glibc.rtld.optional_static_tls={RecommendedReserve(requiredBytes)}")
{
    public ulong RequiredBytes { get; } = requiredBytes;

    /// <summary>A reserve that holds this block plus room for the small blocks libraries bring.</summary>
    public static ulong RecommendedReserve(ulong bytes) => (bytes + 4096 + 4095) & ~4095UL;

    /// <summary>The GLIBC_TUNABLES value that sets the reserve to <paramref name="reserve"/>, keeping any
    /// tunables this process was given.</summary>
    public static string TunablesWithReserve(ulong reserve)
    {
        string tunable = $"glibc.rtld.optional_static_tls={reserve}";
        return Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { Length: > 0 } current ? current + ":" + tunable : tunable;
    }
}
