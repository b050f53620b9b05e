using OrcSharp.ObjectFile.Elf;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// A minimal ELF shared object whose only content is a PT_TLS segment, flagged DF_STATIC_TLS so the
/// dynamic loader places its block in the static TLS area: at one fixed offset from the thread pointer in
/// every thread, initialized in threads that already exist and in every thread created later. It has
/// no code and no symbols; it exists so glibc owns the JIT'd thread-local block. Its one relocation, a
/// TP-relative one against its own block, is what makes glibc allocate the block in static TLS (the flag
/// alone does not), and the loader writes that block's offset from the thread pointer into the slot at
/// <see cref="TlsModuleFile.ThreadPointerOffsetSlot"/> for the executor to read.
/// </summary>
public static class TlsModuleImage
{
    const ulong DfStaticTls = 0x10;
    const uint RX86_64TpOff64 = 18, RAArch64TlsTprel64 = 1030;

    public static TlsModuleFile Build(ReadOnlySpan<byte> initialImage, ulong memSize, ulong alignment, ushort machine)
    {
        var writer = new ElfSharedObjectWriter(machine) { DynamicFlags = DfStaticTls };
        int slot = writer.AddData(new byte[8], 8);
        // Symbol 0 is local, so the relocation binds to this module's own block.
        writer.AddRelocation(slot, 0, machine == ElfAbi.EmAArch64 ? RAArch64TlsTprel64 : RX86_64TpOff64);
        writer.SetThreadLocalImage(initialImage, memSize, alignment);
        var so = writer.Build();
        return new TlsModuleFile(so.File, so.DataOffsets[slot]);
    }

    /// <summary>
    /// A shared object with no thread-local block of its own that imports thread-locals of loaded shared
    /// libraries: one undefined STT_TLS symbol and one TP-relative relocation per name. Resolving them
    /// makes the loader move each defining library's TLS block into static TLS (as for a library a
    /// native executable reaches with initial-exec code), and write each symbol's offset from the thread
    /// pointer into its 8-byte slot: name i's is at <paramref name="firstSlot"/> + 8 i (module-relative).
    /// The loader looks the names up in the global scope.
    /// </summary>
    public static byte[] BuildImports(IReadOnlyList<string> names, ushort machine, out int firstSlot)
    {
        var writer = new ElfSharedObjectWriter(machine);
        int slots = writer.AddData(new byte[8 * names.Count], 8);
        uint type = machine == ElfAbi.EmAArch64 ? RAArch64TlsTprel64 : RX86_64TpOff64;
        for (int i = 0; i < names.Count; i++)
            writer.AddRelocation(slots, 8 * i, type, symbol: writer.AddImport(names[i], ElfAbi.SttTls));
        var so = writer.Build();
        firstSlot = so.DataOffsets[slots];
        return so.File;
    }
}

/// <summary>The TLS module's file, and where the loader writes the block's offset from the thread pointer
/// (relative to the module's load base).</summary>
public readonly record struct TlsModuleFile(byte[] File, int ThreadPointerOffsetSlot);
