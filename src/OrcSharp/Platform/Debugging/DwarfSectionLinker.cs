using System.Buffers.Binary;
using OrcSharp.JitLink;
using OrcSharp.JitLink.Elf;
using OrcSharp.ObjectFile.Elf;

namespace OrcSharp.Platform.Debugging;

/// <summary>
/// Links the DWARF of a link's objects the way a static linker does, into sections that are not loaded:
/// each object's .debug_* sections are appended to the merged section of the same name, and their
/// relocations are applied with the final addresses of the code and data they name (or the merged offset
/// of the debug section they point into). References to code that was not kept (a COMDAT copy discarded
/// in favour of another object's) get the value GNU ld gives them: 0, and 1 in .debug_ranges and
/// .debug_loc where 0 would end a list. An object whose DWARF cannot be linked (an unknown relocation,
/// compressed sections) contributes none, rather than wrong debug information.
/// </summary>
internal sealed class DwarfSectionLinker(TargetArch arch, Func<string, ulong?> addressOf)
{
    /// <summary>A merged output section: its bytes so far.</summary>
    sealed class Output(string name)
    {
        public string Name { get; } = name;
        public byte[] Data = [];
        public int Length;

        public int Append(ReadOnlySpan<byte> bytes)
        {
            if (Length + bytes.Length > Data.Length) Array.Resize(ref Data, Math.Max(Data.Length * 2, Length + bytes.Length));
            bytes.CopyTo(Data.AsSpan(Length));
            Length += bytes.Length;
            return Length - bytes.Length;
        }
    }

    readonly List<Output> _outputs = new();
    readonly Dictionary<string, Output> _byName = new(StringComparer.Ordinal);

    /// <summary>Whether an object has DWARF to link (a quick look at its section names).</summary>
    public static bool HasDebugSections(ElfObjectFile elf)
    {
        foreach (var n in elf.SectionNames) if (n.StartsWith(".debug_", StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>The merged sections, in the order they first appeared.</summary>
    public IEnumerable<(string Name, ReadOnlyMemory<byte> Data)> Sections => _outputs.Select(o => (o.Name, (ReadOnlyMemory<byte>)o.Data.AsMemory(0, o.Length)));

    public ReadOnlySpan<byte> Section(string name) => _byName.TryGetValue(name, out var o) ? o.Data.AsSpan(0, o.Length) : default;

    /// <summary>Appends one object's DWARF, relocated. Returns false (and contributes nothing) when it cannot be linked.</summary>
    public bool Add(ElfObjectUnit unit)
    {
        try { return TryAdd(unit); }
        catch (Shared.LinkError) { return false; } // a malformed symbol table entry that the link itself never needed
    }

    bool TryAdd(ElfObjectUnit unit)
    {
        var elf = unit.Elf;
        // Where each debug section's copy will go in its merged section (-1: not a linked debug section).
        var outputs = new Output?[elf.Sections.Length];
        var offsets = new int[elf.Sections.Length];
        var pending = new Dictionary<Output, int>();
        bool any = false;
        for (int i = 1; i < elf.Sections.Length; i++)
        {
            offsets[i] = -1;
            if (!IsLinkedDebugSection(elf, i)) continue;
            if ((elf.Sections[i].Flags & ShfCompressed) != 0) return false;
            var o = outputs[i] = OutputFor(elf.SectionName(i));
            offsets[i] = o.Length + pending.GetValueOrDefault(o);
            pending[o] = pending.GetValueOrDefault(o) + (int)elf.Sections[i].Size;
            any = true;
        }
        if (!any) return true;
        // Relocate copies first, so an object that fails leaves the merged sections untouched.
        var copies = new byte[elf.Sections.Length][];
        for (int i = 1; i < elf.Sections.Length; i++)
            if (outputs[i] is not null) copies[i] = elf.SectionData(i).ToArray();
        var symbols = new SymbolValues(unit, offsets, addressOf);
        for (int r = 1; r < elf.Sections.Length; r++)
        {
            ref readonly var rsh = ref elf.Sections[r];
            if (rsh.Type != ElfAbi.ShtRela || rsh.Info >= (uint)copies.Length || copies[rsh.Info] is not { } target) continue;
            if (!Relocate(elf, r, target, elf.SectionName((int)rsh.Info), symbols)) return false;
        }
        for (int i = 1; i < elf.Sections.Length; i++)
            outputs[i]?.Append(copies[i]);
        return true;
    }

    const ulong ShfCompressed = 0x800;

    /// <summary>A non-loaded DWARF section that is linked. Name indexes (.debug_names, pubnames) are left out:
    /// they would cover only some units, and a debugger then reads the units themselves. Sections in
    /// COMDAT groups (type units) are left out too.</summary>
    static bool IsLinkedDebugSection(ElfObjectFile elf, int i)
    {
        ref readonly var sh = ref elf.Sections[i];
        string name = elf.SectionName(i);
        return sh.Type == ElfAbi.ShtProgbits && (sh.Flags & (ElfAbi.ShfAlloc | ElfAbi.ShfGroup)) == 0 &&
               name.StartsWith(".debug_", StringComparison.Ordinal) && name != ".debug_names" && !name.Contains("pub", StringComparison.Ordinal);
    }

    Output OutputFor(string name)
    {
        if (_byName.TryGetValue(name, out var o)) return o;
        o = new Output(name);
        _byName.Add(name, o);
        _outputs.Add(o);
        return o;
    }

    enum Kind { None, Abs64, Abs32, Unsupported }

    Kind Classify(uint type) => arch switch
    {
        // x86-64 psABI: R_X86_64_NONE, _64, _32, _32S, DTPOFF64, DTPOFF32 (a thread-local's offset in its
        // module's block, which is what a thread-local block's address is in the graph).
        TargetArch.X86_64 => type switch { 0 => Kind.None, 1 or 17 => Kind.Abs64, 10 or 11 or 21 => Kind.Abs32, _ => Kind.Unsupported },
        // aaelf64: R_AARCH64_NONE (0 and 256), ABS64, ABS32, TLS_DTPREL64.
        _ => type switch { 0 or 256 => Kind.None, 257 or 1029 => Kind.Abs64, 258 => Kind.Abs32, _ => Kind.Unsupported },
    };

    bool Relocate(ElfObjectFile elf, int relaSection, byte[] target, string targetName, SymbolValues symbols)
    {
        ulong tombstone = targetName is ".debug_ranges" or ".debug_loc" ? 1UL : 0UL;
        foreach (ref readonly var rel in elf.Relocations(relaSection))
        {
            var kind = Classify(rel.Type);
            if (kind == Kind.None) continue;
            int width = kind == Kind.Abs64 ? 8 : 4;
            if (kind == Kind.Unsupported || rel.Offset > (ulong)target.Length || (ulong)target.Length - rel.Offset < (ulong)width) return false;
            ulong value = symbols.ValueOf(rel.SymbolIndex) is { } s ? s + (ulong)rel.Addend : tombstone;
            var at = target.AsSpan((int)rel.Offset);
            if (width == 8) BinaryPrimitives.WriteUInt64LittleEndian(at, value);
            else BinaryPrimitives.WriteUInt32LittleEndian(at, (uint)value);
        }
        return true;
    }

    /// <summary>Final values of one object's symbols as its DWARF relocations see them.</summary>
    sealed class SymbolValues(ElfObjectUnit unit, int[] debugOffsets, Func<string, ulong?> addressOf)
    {
        public ulong? ValueOf(uint index)
        {
            var elf = unit.Elf;
            if (index == 0 || index >= (uint)elf.SymbolCount) return index == 0 ? 0 : null;
            ref readonly var s = ref elf.Symbols[(int)index];
            int shndx = elf.SymbolSectionIndex((int)index, s);
            if (shndx == ElfAbi.ShnAbs) return s.Value;
            if (shndx is > 0 and < ElfAbi.ShnLoReserve)
            {
                if (debugOffsets[shndx] >= 0) return (ulong)debugOffsets[shndx] + s.Value;
                if (DebugObjectBuilder.PlacedAddress(unit.LoadedBlock(shndx)) is { } a) return a + s.Value;
            }
            // Undefined here, common, or defined in a discarded COMDAT copy: the definition the link kept.
            if (s.Binding == ElfAbi.StbLocal || s.Type == ElfAbi.SttSection) return null;
            string name = elf.SymbolName(s);
            return name.Length == 0 ? null : addressOf(name);
        }
    }
}
