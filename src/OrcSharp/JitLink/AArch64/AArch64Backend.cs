using System.Buffers.Binary;
using System.Runtime.InteropServices;
using OrcSharp.JitLink.Elf;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.AArch64;

/// <summary>
/// The AArch64 ELF backend (small code model; PIE, -fPIC and -fno-pic): relocation mapping, GOT and
/// stubs, range-extension veneers, and every fixup formula with its instruction-field encoding.
/// Thread-local accesses are resolved to local-exec (every TLS block is in static TLS), as a native
/// executable link relaxes them.
/// </summary>
public sealed class AArch64Backend : ILinkBackend
{
    public static readonly AArch64Backend Instance = new();
    public TargetArch Arch => TargetArch.AArch64;
    public ushort ElfMachine => ElfAbi.EmAArch64;

    // ELF relocation numbers (AArch64 ELF ABI).
    const uint R_NONE = 0, R_NONE_OLD = 256, R_ABS64 = 0x101, R_ABS32 = 0x102, R_ABS16 = 0x103, R_PREL64 = 0x104,
        R_PREL32 = 0x105, R_PREL16 = 0x106, R_MOVW_UABS_G0 = 0x107, R_MOVW_UABS_G0_NC = 0x108, R_MOVW_UABS_G1 = 0x109,
        R_MOVW_UABS_G1_NC = 0x10a, R_MOVW_UABS_G2 = 0x10b, R_MOVW_UABS_G2_NC = 0x10c, R_MOVW_UABS_G3 = 0x10d,
        R_LD_PREL_LO19 = 0x111, R_ADR_PREL_LO21 = 0x112, R_ADR_PREL_PG_HI21 = 0x113, R_ADR_PREL_PG_HI21_NC = 0x114,
        R_ADD_ABS_LO12_NC = 0x115, R_LDST8_ABS_LO12_NC = 0x116, R_TSTBR14 = 0x117, R_CONDBR19 = 0x118, R_JUMP26 = 0x11a,
        R_CALL26 = 0x11b, R_LDST16_ABS_LO12_NC = 0x11c, R_LDST32_ABS_LO12_NC = 0x11d, R_LDST64_ABS_LO12_NC = 0x11e,
        R_LDST128_ABS_LO12_NC = 0x12b, R_ADR_GOT_PAGE = 0x137, R_LD64_GOT_LO12_NC = 0x138, R_LD64_GOTPAGE_LO15 = 0x139,
        R_TLSIE_ADR_GOTTPREL_PAGE21 = 0x21d, R_TLSIE_LD64_GOTTPREL_LO12_NC = 0x21e, R_TLSLE_ADD_TPREL_HI12 = 0x225,
        R_TLSLE_ADD_TPREL_LO12 = 0x226, R_TLSLE_ADD_TPREL_LO12_NC = 0x227, R_TLSDESC_ADR_PAGE21 = 0x232,
        R_TLSDESC_LD64_LO12 = 0x233, R_TLSDESC_ADD_LO12 = 0x234, R_TLSDESC_CALL = 0x239, R_TLS_DTPREL64 = 0x405,
        R_TLS_TPREL64 = 0x406;

    static readonly Dictionary<uint, (AArch64Edge Kind, int Width, string Name)> Relocations = new()
    {
        [R_ABS64] = (AArch64Edge.Pointer64, 8, "R_AARCH64_ABS64"),
        [R_ABS32] = (AArch64Edge.Pointer32, 4, "R_AARCH64_ABS32"),
        [R_ABS16] = (AArch64Edge.Pointer16, 2, "R_AARCH64_ABS16"),
        [R_PREL64] = (AArch64Edge.Delta64, 8, "R_AARCH64_PREL64"),
        [R_PREL32] = (AArch64Edge.Delta32, 4, "R_AARCH64_PREL32"),
        [R_PREL16] = (AArch64Edge.Delta16, 2, "R_AARCH64_PREL16"),
        [R_MOVW_UABS_G0] = (AArch64Edge.MovWG0, 4, "R_AARCH64_MOVW_UABS_G0"),
        [R_MOVW_UABS_G0_NC] = (AArch64Edge.MovWG0NoCheck, 4, "R_AARCH64_MOVW_UABS_G0_NC"),
        [R_MOVW_UABS_G1] = (AArch64Edge.MovWG1, 4, "R_AARCH64_MOVW_UABS_G1"),
        [R_MOVW_UABS_G1_NC] = (AArch64Edge.MovWG1NoCheck, 4, "R_AARCH64_MOVW_UABS_G1_NC"),
        [R_MOVW_UABS_G2] = (AArch64Edge.MovWG2, 4, "R_AARCH64_MOVW_UABS_G2"),
        [R_MOVW_UABS_G2_NC] = (AArch64Edge.MovWG2NoCheck, 4, "R_AARCH64_MOVW_UABS_G2_NC"),
        [R_MOVW_UABS_G3] = (AArch64Edge.MovWG3, 4, "R_AARCH64_MOVW_UABS_G3"),
        [R_LD_PREL_LO19] = (AArch64Edge.Literal19, 4, "R_AARCH64_LD_PREL_LO19"),
        [R_ADR_PREL_LO21] = (AArch64Edge.Adr21, 4, "R_AARCH64_ADR_PREL_LO21"),
        [R_ADR_PREL_PG_HI21] = (AArch64Edge.Page21, 4, "R_AARCH64_ADR_PREL_PG_HI21"),
        [R_ADR_PREL_PG_HI21_NC] = (AArch64Edge.Page21NoCheck, 4, "R_AARCH64_ADR_PREL_PG_HI21_NC"),
        [R_ADD_ABS_LO12_NC] = (AArch64Edge.PageOffset12, 4, "R_AARCH64_ADD_ABS_LO12_NC"),
        [R_LDST8_ABS_LO12_NC] = (AArch64Edge.PageOffset12Ldst8, 4, "R_AARCH64_LDST8_ABS_LO12_NC"),
        [R_LDST16_ABS_LO12_NC] = (AArch64Edge.PageOffset12Ldst16, 4, "R_AARCH64_LDST16_ABS_LO12_NC"),
        [R_LDST32_ABS_LO12_NC] = (AArch64Edge.PageOffset12Ldst32, 4, "R_AARCH64_LDST32_ABS_LO12_NC"),
        [R_LDST64_ABS_LO12_NC] = (AArch64Edge.PageOffset12Ldst64, 4, "R_AARCH64_LDST64_ABS_LO12_NC"),
        [R_LDST128_ABS_LO12_NC] = (AArch64Edge.PageOffset12Ldst128, 4, "R_AARCH64_LDST128_ABS_LO12_NC"),
        [R_TSTBR14] = (AArch64Edge.TestBranch14, 4, "R_AARCH64_TSTBR14"),
        [R_CONDBR19] = (AArch64Edge.CondBranch19, 4, "R_AARCH64_CONDBR19"),
        [R_JUMP26] = (AArch64Edge.Branch26, 4, "R_AARCH64_JUMP26"),
        [R_CALL26] = (AArch64Edge.Branch26, 4, "R_AARCH64_CALL26"),
        [R_ADR_GOT_PAGE] = (AArch64Edge.RequestGotPage21, 4, "R_AARCH64_ADR_GOT_PAGE"),
        [R_LD64_GOT_LO12_NC] = (AArch64Edge.RequestGotLo12, 4, "R_AARCH64_LD64_GOT_LO12_NC"),
        [R_LD64_GOTPAGE_LO15] = (AArch64Edge.RequestGotPageLo15, 4, "R_AARCH64_LD64_GOTPAGE_LO15"),
        [R_TLSIE_ADR_GOTTPREL_PAGE21] = (AArch64Edge.TlsIeAdrp, 4, "R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21"),
        [R_TLSIE_LD64_GOTTPREL_LO12_NC] = (AArch64Edge.TlsIeLdr, 4, "R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC"),
        [R_TLSLE_ADD_TPREL_HI12] = (AArch64Edge.TlsLeHi12, 4, "R_AARCH64_TLSLE_ADD_TPREL_HI12"),
        [R_TLSLE_ADD_TPREL_LO12] = (AArch64Edge.TlsLeLo12, 4, "R_AARCH64_TLSLE_ADD_TPREL_LO12"),
        [R_TLSLE_ADD_TPREL_LO12_NC] = (AArch64Edge.TlsLeLo12NoCheck, 4, "R_AARCH64_TLSLE_ADD_TPREL_LO12_NC"),
        [R_TLSDESC_ADR_PAGE21] = (AArch64Edge.TlsDescAdrp, 4, "R_AARCH64_TLSDESC_ADR_PAGE21"),
        [R_TLSDESC_LD64_LO12] = (AArch64Edge.TlsDescLdr, 4, "R_AARCH64_TLSDESC_LD64_LO12"),
        [R_TLSDESC_ADD_LO12] = (AArch64Edge.TlsDescAdd, 4, "R_AARCH64_TLSDESC_ADD_LO12"),
        [R_TLSDESC_CALL] = (AArch64Edge.TlsDescCall, 4, "R_AARCH64_TLSDESC_CALL"),
        [R_TLS_TPREL64] = (AArch64Edge.TpRel64, 8, "R_AARCH64_TLS_TPREL64"),
        [R_TLS_DTPREL64] = (AArch64Edge.DtpRel64, 8, "R_AARCH64_TLS_DTPREL64"),
    };

    public string RelocationName(uint type) =>
        Relocations.TryGetValue(type, out var r) ? r.Name : $"AArch64 relocation type {type} (0x{type:x})";
    public string EdgeKindName(ushort kind) => ((AArch64Edge)kind).ToString();
    public bool IsNoneRelocation(uint type) => type is R_NONE or R_NONE_OLD;
    public ushort PointerEdgeKind => (ushort)AArch64Edge.Pointer64;

    public bool TryMapRelocation(uint type, out ushort kind, out int width)
    {
        bool ok = Relocations.TryGetValue(type, out var r);
        kind = ok ? (ushort)r.Kind : (ushort)0;
        width = ok ? r.Width : 0;
        return ok;
    }

    public bool? RequiresThreadLocalTarget(ushort kind) => (AArch64Edge)kind >= AArch64Edge.TlsLeHi12;

    // PC-relative references to data (ADRP reaches +-4 GiB): non-PIC code addresses library data this way,
    // counting on copy relocations when the library is farther.
    public bool IsNarrowReference(ushort kind) => (AArch64Edge)kind is AArch64Edge.Page21 or AArch64Edge.Adr21 or
        AArch64Edge.Literal19 or AArch64Edge.Delta32 or AArch64Edge.Delta16;

    public bool IsOutOfRange(Block block, in Edge e)
    {
        ulong P = block.Address.Value + e.Offset, SA = e.Target.Address.Value + (ulong)e.Addend;
        long pages = ((long)Page(SA) - (long)Page(P)) >> 12, d = (long)(SA - P);
        return (AArch64Edge)e.Kind switch
        {
            AArch64Edge.Page21 => pages < -(1L << 20) || pages >= 1L << 20,
            AArch64Edge.Adr21 or AArch64Edge.Literal19 => d < -(1L << 20) || d >= 1L << 20,
            AArch64Edge.Delta32 => d < int.MinValue || d > uint.MaxValue,
            AArch64Edge.Delta16 => d < short.MinValue || d > ushort.MaxValue,
            _ => false,
        };
    }

    public bool ShouldLoadSection(string name, in Elf64SectionHeader header) => ElfSectionRules.ShouldLoad(header);
    public MemProt SectionProt(string name, ulong flags) => ElfSectionRules.Protection(name, flags);
    public void DefineSyntheticSymbols(LinkGraph graph, SymbolTable table) => GlobalOffsetTable.DefineIfReferenced(graph, table);

    public BackendPassResult BuildGotAndStubs(LinkGraph graph, LinkOptions options) => new AArch64GotStubBuilder(graph, options).Run();

    public bool AddRangeExtensions(LinkGraph graph) => AArch64Veneers.Add(graph);

    public Symbol CreateStub(LinkGraph graph, Symbol slot, string? name) => AArch64GotStubBuilder.AddStub(graph, slot, name);

    static ulong Page(ulong x) => x & ~0xfffUL;

    public void ApplyFixups(Block block, Span<byte> mem, in FixupContext ctx)
    {
        ulong blockAddr = block.Address.Value;
        foreach (ref readonly var e in CollectionsMarshal.AsSpan(block.Edges))
        {
            var field = mem[(int)e.Offset..];
            ulong P = blockAddr + e.Offset;
            ulong S = e.Target.Address.Value;
            long A = e.Addend;
            ulong SA = S + (ulong)A;
            switch ((AArch64Edge)e.Kind)
            {
                case AArch64Edge.Pointer64: FixupFields.Write64(field, SA); break;
                case AArch64Edge.Pointer32: FixupFields.WriteChecked(field, (long)SA, int.MinValue, uint.MaxValue, 4, block, e, this); break;
                case AArch64Edge.Pointer16: FixupFields.WriteChecked(field, (long)SA, short.MinValue, ushort.MaxValue, 2, block, e, this); break;
                case AArch64Edge.Delta64: FixupFields.Write64(field, SA - P); break;
                case AArch64Edge.Delta32: FixupFields.WriteChecked(field, (long)(SA - P), int.MinValue, uint.MaxValue, 4, block, e, this); break;
                case AArch64Edge.Delta16: FixupFields.WriteChecked(field, (long)(SA - P), short.MinValue, ushort.MaxValue, 2, block, e, this); break;
                case AArch64Edge.Branch26:
                {
                    // A stub's real target is reached directly when it is in range.
                    ulong dest = AArch64GotStubBuilder.IsStub(e.Target) && AArch64GotStubBuilder.StubFinalTarget(e.Target) is var real &&
                                 real != 0 && InBranchRange(real + (ulong)A - P, 26) ? real : S;
                    Patch(field, BranchImm(block, e, (long)(dest + (ulong)A - P), 26), 0x3ffffff, 0);
                    break;
                }
                case AArch64Edge.CondBranch19:
                case AArch64Edge.Literal19: Patch(field, BranchImm(block, e, (long)(SA - P), 19), 0x7ffff, 5); break;
                case AArch64Edge.TestBranch14: Patch(field, BranchImm(block, e, (long)(SA - P), 14), 0x3fff, 5); break;
                case AArch64Edge.Adr21: WriteAdr(field, Checked((long)(SA - P), 21, block, e)); break;
                case AArch64Edge.Page21: WriteAdr(field, Checked(((long)Page(SA) - (long)Page(P)) >> 12, 21, block, e)); break;
                case AArch64Edge.Page21NoCheck: WriteAdr(field, ((long)Page(SA) - (long)Page(P)) >> 12); break;
                case AArch64Edge.PageOffset12:
                case AArch64Edge.PageOffset12Ldst8: Patch(field, SA & 0xfff, 0xfff, 10); break;
                case AArch64Edge.PageOffset12Ldst16: Patch(field, Scaled(SA, 1, block, e), 0xfff, 10); break;
                case AArch64Edge.PageOffset12Ldst32: Patch(field, Scaled(SA, 2, block, e), 0xfff, 10); break;
                case AArch64Edge.PageOffset12Ldst64: Patch(field, Scaled(SA, 3, block, e), 0xfff, 10); break;
                case AArch64Edge.PageOffset12Ldst128: Patch(field, Scaled(SA, 4, block, e), 0xfff, 10); break;
                case AArch64Edge.MovWG0: Patch(field, Unsigned(SA, 16, block, e), 0xffff, 5); break;
                case AArch64Edge.MovWG0NoCheck: Patch(field, SA, 0xffff, 5); break;
                case AArch64Edge.MovWG1: Patch(field, Unsigned(SA, 32, block, e) >> 16, 0xffff, 5); break;
                case AArch64Edge.MovWG1NoCheck: Patch(field, SA >> 16, 0xffff, 5); break;
                case AArch64Edge.MovWG2: Patch(field, Unsigned(SA, 48, block, e) >> 32, 0xffff, 5); break;
                case AArch64Edge.MovWG2NoCheck: Patch(field, SA >> 32, 0xffff, 5); break;
                case AArch64Edge.MovWG3: Patch(field, SA >> 48, 0xffff, 5); break;
                case AArch64Edge.GotPageOffset15:
                {
                    long v = (long)SA - (long)Page(ctx.GotBase.Value);
                    if (v < 0 || v >= 1 << 15 || (v & 7) != 0) throw FixupFields.OutOfRange(block, e, v, this);
                    Patch(field, (ulong)v >> 3, 0xfff, 10);
                    break;
                }
                case AArch64Edge.TlsLeHi12: Patch(field, Unsigned(TpRel(ctx, block, e), 24, block, e) >> 12, 0xfff, 10); break;
                case AArch64Edge.TlsLeLo12: Patch(field, Unsigned(TpRel(ctx, block, e), 12, block, e), 0xfff, 10); break;
                case AArch64Edge.TlsLeLo12NoCheck: Patch(field, TpRel(ctx, block, e), 0xfff, 10); break;
                case AArch64Edge.TlsIeAdrp: // adrp Xd, :gottprel: -> movz Xd, #tprel_g1, lsl #16
                    Write32(field, 0xd2a00000 | (Read32(field) & 0x1f) | (uint)((Unsigned(TpRel(ctx, block, e), 32, block, e) >> 16) << 5));
                    break;
                case AArch64Edge.TlsIeLdr: // ldr Xt, [Xn, :gottprel_lo12:] -> movk Xt, #tprel_g0_nc
                    Write32(field, 0xf2800000 | (Read32(field) & 0x1f) | (uint)((TpRel(ctx, block, e) & 0xffff) << 5));
                    break;
                case AArch64Edge.TlsDescAdrp: // adrp x0, :tlsdesc: -> movz x0, #tprel_g1, lsl #16
                    Write32(field, 0xd2a00000 | (uint)((Unsigned(TpRel(ctx, block, e), 32, block, e) >> 16) << 5));
                    break;
                case AArch64Edge.TlsDescLdr: // ldr x1, [x0, :tlsdesc_lo12:] -> movk x0, #tprel_g0_nc
                    Write32(field, 0xf2800000 | (uint)((TpRel(ctx, block, e) & 0xffff) << 5));
                    break;
                case AArch64Edge.TlsDescAdd:
                case AArch64Edge.TlsDescCall: Write32(field, Nop); break;
                case AArch64Edge.TpRel64: FixupFields.Write64(field, TpRel(ctx, block, e)); break;
                case AArch64Edge.DtpRel64: FixupFields.Write64(field, SA); break;
                default: throw FixupFields.Unexpected(block, e, this);
            }
        }
    }

    public const uint Nop = 0xd503201f;

    static ulong TpRel(in FixupContext ctx, Block block, in Edge e) =>
        (ulong)ctx.ThreadPointerRelative(block, e);

    /// <summary>Whether a byte displacement fits a branch with an N-bit word offset.</summary>
    public static bool InBranchRange(ulong displacement, int bits)
    {
        long d = (long)displacement;
        long limit = 1L << (bits + 1);
        return (d & 3) == 0 && d >= -limit && d < limit;
    }

    static ulong BranchImm(Block block, in Edge e, long displacement, int bits)
    {
        if (!InBranchRange((ulong)displacement, bits)) throw FixupFields.OutOfRange(block, e, displacement, Instance);
        return (ulong)(displacement >> 2);
    }

    static long Checked(long v, int bits, Block block, in Edge e)
    {
        long limit = 1L << (bits - 1);
        if (v < -limit || v >= limit) throw FixupFields.OutOfRange(block, e, v, Instance);
        return v;
    }

    static ulong Unsigned(ulong v, int bits, Block block, in Edge e)
    {
        if (v >= 1UL << bits) throw FixupFields.OutOfRange(block, e, (long)v, Instance);
        return v;
    }

    /// <summary>The low 12 bits of an address for a load or store of 2^shift bytes, which must be aligned.</summary>
    static ulong Scaled(ulong v, int shift, Block block, in Edge e)
    {
        ulong lo = v & 0xfff;
        if ((lo & ((1UL << shift) - 1)) != 0)
            throw FixupFields.Error(block, e, Instance, $"is not {1 << shift}-byte aligned (address 0x{v:x})");
        return lo >> shift;
    }

    static uint Read32(Span<byte> f) => BinaryPrimitives.ReadUInt32LittleEndian(f);
    static void Write32(Span<byte> f, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(f, v);

    /// <summary>Replaces the instruction field (mask at shift) with value.</summary>
    static void Patch(Span<byte> f, ulong value, uint mask, int shift) =>
        Write32(f, (Read32(f) & ~(mask << shift)) | (((uint)value & mask) << shift));

    /// <summary>ADR/ADRP immediate: low 2 bits in [30:29], high 19 bits in [23:5].</summary>
    static void WriteAdr(Span<byte> f, long imm)
    {
        uint v = (uint)imm;
        Write32(f, (Read32(f) & ~((3u << 29) | (0x7ffffu << 5))) | ((v & 3) << 29) | (((v >> 2) & 0x7ffff) << 5));
    }
}
