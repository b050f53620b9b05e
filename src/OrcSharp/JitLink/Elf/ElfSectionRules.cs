using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.Elf;

/// <summary>Which ELF sections become blocks and with what protection: the same on every architecture.</summary>
public static class ElfSectionRules
{
    public static bool ShouldLoad(in Elf64SectionHeader header) => header.Type != ElfAbi.ShtNote;

    public static MemProt Protection(string name, ulong flags)
    {
        if ((flags & ElfAbi.ShfExecInstr) != 0) return MemProt.Read | MemProt.Exec;
        if ((flags & ElfAbi.ShfWrite) == 0) return MemProt.Read;
        // Data that only relocation writes (RELRO in a native link) is read-only once fixed up.
        if (name.StartsWith(".data.rel.ro", StringComparison.Ordinal) || name.StartsWith(".init_array", StringComparison.Ordinal) ||
            name.StartsWith(".fini_array", StringComparison.Ordinal) || name == ".preinit_array" ||
            name.StartsWith(".ctors", StringComparison.Ordinal) || name.StartsWith(".dtors", StringComparison.Ordinal))
            return MemProt.Read;
        return MemProt.Read | MemProt.Write;
    }
}
