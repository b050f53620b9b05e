using System.Buffers.Binary;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Shared;

namespace OrcSharp.JitLink.X86_64;

/// <summary>The x86-64 ELF backend: relocation mapping, GOT and stubs, and every fixup formula.</summary>
public sealed class X86_64Backend : ILinkBackend
{
    public static readonly X86_64Backend Instance = new();
    public TargetArch Arch => TargetArch.X86_64;
    public ushort ElfMachine => ElfAbi.EmX86_64;

    public const string GotSectionName = GlobalOffsetTable.SectionName, StubSectionName = GlobalOffsetTable.StubSectionName;

    // ELF relocation numbers (psABI).
    const uint R_NONE = 0, R_64 = 1, R_PC32 = 2, R_GOT32 = 3, R_PLT32 = 4, R_GOTPCREL = 9, R_32 = 10, R_32S = 11,
        R_16 = 12, R_PC16 = 13, R_8 = 14, R_PC8 = 15, R_PC64 = 24, R_GOTOFF64 = 25, R_GOTPC32 = 26, R_GOT64 = 27,
        R_GOTPCREL64 = 28, R_GOTPC64 = 29, R_PLTOFF64 = 31, R_SIZE32 = 32, R_SIZE64 = 33, R_GOTPCRELX = 41, R_REX_GOTPCRELX = 42,
        R_DTPMOD64 = 16, R_DTPOFF64 = 17, R_TPOFF64 = 18, R_TLSGD = 19, R_TLSLD = 20, R_DTPOFF32 = 21, R_GOTTPOFF = 22,
        R_TPOFF32 = 23, R_GOTPC32_TLSDESC = 34, R_TLSDESC_CALL = 35;

    static readonly string[] RelocNames =
    {
        "R_X86_64_NONE", "R_X86_64_64", "R_X86_64_PC32", "R_X86_64_GOT32", "R_X86_64_PLT32", "R_X86_64_COPY",
        "R_X86_64_GLOB_DAT", "R_X86_64_JUMP_SLOT", "R_X86_64_RELATIVE", "R_X86_64_GOTPCREL", "R_X86_64_32",
        "R_X86_64_32S", "R_X86_64_16", "R_X86_64_PC16", "R_X86_64_8", "R_X86_64_PC8", "R_X86_64_DTPMOD64",
        "R_X86_64_DTPOFF64", "R_X86_64_TPOFF64", "R_X86_64_TLSGD", "R_X86_64_TLSLD", "R_X86_64_DTPOFF32",
        "R_X86_64_GOTTPOFF", "R_X86_64_TPOFF32", "R_X86_64_PC64", "R_X86_64_GOTOFF64", "R_X86_64_GOTPC32",
        "R_X86_64_GOT64", "R_X86_64_GOTPCREL64", "R_X86_64_GOTPC64", "R_X86_64_GOTPLT64", "R_X86_64_PLTOFF64",
        "R_X86_64_SIZE32", "R_X86_64_SIZE64", "R_X86_64_GOTPC32_TLSDESC", "R_X86_64_TLSDESC_CALL",
        "R_X86_64_TLSDESC", "R_X86_64_IRELATIVE", "R_X86_64_RELATIVE64", "39", "40", "R_X86_64_GOTPCRELX",
        "R_X86_64_REX_GOTPCRELX",
    };

    public string RelocationName(uint type) => type < RelocNames.Length ? RelocNames[type] : $"unknown relocation type {type}";
    public string EdgeKindName(ushort kind) => ((X86Edge)kind).ToString();
    public bool IsNoneRelocation(uint type) => type == R_NONE;
    public ushort PointerEdgeKind => (ushort)X86Edge.Pointer64;

    public bool TryMapRelocation(uint type, out ushort kind, out int width)
    {
        (X86Edge k, width) = type switch
        {
            R_64 => (X86Edge.Pointer64, 8),
            R_PC32 => (X86Edge.Delta32, 4),
            R_GOT32 => (X86Edge.RequestGotOffset32, 4),
            R_PLT32 => (X86Edge.BranchPCRel32, 4),
            R_GOTPCREL => (X86Edge.RequestGotDelta32, 4),
            R_32 => (X86Edge.Pointer32, 4),
            R_32S => (X86Edge.Pointer32Signed, 4),
            R_16 => (X86Edge.Pointer16, 2),
            R_PC16 => (X86Edge.Delta16, 2),
            R_8 => (X86Edge.Pointer8, 1),
            R_PC8 => (X86Edge.Delta8, 1),
            R_PC64 => (X86Edge.Delta64, 8),
            R_GOTOFF64 => (X86Edge.Delta64FromGot, 8),
            R_GOTPC32 => (X86Edge.GotBaseDelta32, 4),
            R_GOT64 => (X86Edge.RequestGotOffset64, 8),
            R_GOTPCREL64 => (X86Edge.RequestGotDelta64, 8),
            R_GOTPC64 => (X86Edge.GotBaseDelta64, 8),
            R_PLTOFF64 => (X86Edge.Delta64FromGot, 8), // L - GOT + A; we bind L to S (no lazy PLT)
            R_SIZE32 => (X86Edge.Size32, 4),
            R_SIZE64 => (X86Edge.Size64, 8),
            R_GOTPCRELX => (X86Edge.RequestGotDelta32Relax, 4),
            R_REX_GOTPCRELX => (X86Edge.RequestGotDelta32RexRelax, 4),
            R_DTPMOD64 => (X86Edge.DtpMod64, 8),
            R_DTPOFF64 => (X86Edge.DtpOff64, 8),
            R_TPOFF64 => (X86Edge.TpOff64, 8),
            R_TLSGD => (X86Edge.RequestTlsGd, 4),
            R_TLSLD => (X86Edge.RequestTlsLd, 4),
            R_DTPOFF32 => (X86Edge.DtpOff32, 4),
            R_GOTTPOFF => (X86Edge.RequestGotTpOff, 4),
            R_TPOFF32 => (X86Edge.TpOff32, 4),
            R_GOTPC32_TLSDESC => (X86Edge.RequestTlsDesc, 4),
            R_TLSDESC_CALL => (X86Edge.TlsDescCall, 2),
            _ => ((X86Edge)0, 0),
        };
        kind = (ushort)k;
        return k != 0;
    }

    public bool? RequiresThreadLocalTarget(ushort kind) => (X86Edge)kind switch
    {
        >= X86Edge.TpOff32 and <= X86Edge.TlsDescCall => true,
        X86Edge.Size32 or X86Edge.Size64 => null,
        _ => false,
    };

    // 32-bit fields only: a copy or a stub in the link's memory (below 2 GiB when such absolute
    // references are present) reaches them; nothing a link places can serve a 16- or 8-bit field.
    public bool IsNarrowReference(ushort kind) => (X86Edge)kind is X86Edge.Pointer32 or X86Edge.Pointer32Signed or X86Edge.Delta32;

    public bool IsOutOfRange(Block block, in Edge e)
    {
        ulong S = e.Target.Address.Value, P = block.Address.Value + e.Offset;
        long A = e.Addend;
        return (X86Edge)e.Kind switch
        {
            X86Edge.Pointer32 => S + (ulong)A > uint.MaxValue,
            X86Edge.Pointer32Signed => (long)(S + (ulong)A) != (int)(long)(S + (ulong)A),
            X86Edge.Pointer16 => (long)(S + (ulong)A) is < short.MinValue or > ushort.MaxValue,
            X86Edge.Pointer8 => (long)(S + (ulong)A) is < sbyte.MinValue or > byte.MaxValue,
            X86Edge.Delta32 => (long)(S + (ulong)A - P) != (int)(long)(S + (ulong)A - P),
            X86Edge.Delta16 => (long)(S + (ulong)A - P) != (short)(long)(S + (ulong)A - P),
            X86Edge.Delta8 => (long)(S + (ulong)A - P) != (sbyte)(long)(S + (ulong)A - P),
            _ => false,
        };
    }

    public bool ShouldLoadSection(string name, in Elf64SectionHeader header) => Elf.ElfSectionRules.ShouldLoad(header);
    public MemProt SectionProt(string name, ulong flags) => Elf.ElfSectionRules.Protection(name, flags);

    public void DefineSyntheticSymbols(LinkGraph graph, SymbolTable table) => GlobalOffsetTable.DefineIfReferenced(graph, table);

    public Symbol CreateStub(LinkGraph graph, Symbol slot, string? name) => X86_64GotStubBuilder.AddStub(graph, slot, name);

    public BackendPassResult BuildGotAndStubs(LinkGraph graph, LinkOptions options)
    {
        X86_64TlsRelaxation.Run(graph);
        return new X86_64GotStubBuilder(graph, options).Run();
    }

    public void ApplyFixups(Block block, Span<byte> mem, in FixupContext ctx)
    {
        ulong blockAddr = block.Address.Value;
        foreach (ref readonly var e in System.Runtime.InteropServices.CollectionsMarshal.AsSpan(block.Edges))
        {
            var field = mem[(int)e.Offset..];
            ulong P = blockAddr + e.Offset;
            ulong S = e.Target.Address.Value;
            long A = e.Addend;
            switch ((X86Edge)e.Kind)
            {
                case X86Edge.Pointer64: Write64(field, S + (ulong)A); break;
                case X86Edge.Pointer32: WriteU32(field, S + (ulong)A, block, e); break;
                case X86Edge.Pointer32Signed: WriteS32(field, (long)(S + (ulong)A), block, e); break;
                case X86Edge.Pointer16: Write16(field, (long)(S + (ulong)A), block, e); break;
                case X86Edge.Pointer8: Write8(field, (long)(S + (ulong)A), block, e); break;
                case X86Edge.Delta64: Write64(field, S + (ulong)A - P); break;
                case X86Edge.Delta32: WriteS32(field, (long)(S + (ulong)A - P), block, e); break;
                case X86Edge.Delta16: WriteS16(field, (long)(S + (ulong)A - P), block, e); break;
                case X86Edge.Delta8: WriteS8(field, (long)(S + (ulong)A - P), block, e); break;
                case X86Edge.Delta64FromGot: Write64(field, S + (ulong)A - ctx.GotBase.Value); break;
                case X86Edge.GotBaseDelta32: WriteS32(field, (long)(ctx.GotBase.Value + (ulong)A - P), block, e); break;
                case X86Edge.GotBaseDelta64: Write64(field, ctx.GotBase.Value + (ulong)A - P); break;
                case X86Edge.Size32: WriteU32(field, e.Target.Size + (ulong)A, block, e); break;
                case X86Edge.Size64: Write64(field, e.Target.Size + (ulong)A); break;
                case X86Edge.GotOffset64: Write64(field, S + (ulong)A - ctx.GotBase.Value); break;
                case X86Edge.GotOffset32: WriteS32(field, (long)(S + (ulong)A - ctx.GotBase.Value), block, e); break;
                case X86Edge.TpOff32: WriteS32(field, ctx.ThreadPointerRelative(block, e), block, e); break;
                case X86Edge.TpOff64: Write64(field, (ulong)ctx.ThreadPointerRelative(block, e)); break;
                case X86Edge.DtpOff32: WriteS32(field, (long)S + A, block, e); break;
                case X86Edge.DtpOff64: Write64(field, S + (ulong)A); break;
                case X86Edge.DtpMod64: Write64(field, ctx.Tls(block, e).ModuleId); break;
                case X86Edge.BranchToStubBypassable:
                {
                    // The stub's first edge leads to its GOT entry, whose edge leads to the real target.
                    ulong real = StubFinalTarget(e.Target).Value;
                    long direct = (long)(real + (ulong)A - P);
                    WriteS32(field, real != 0 && direct == (int)direct ? direct : (long)(S + (ulong)A - P), block, e);
                    break;
                }
                case X86Edge.GotDelta32Relaxable:
                case X86Edge.GotDelta32RexRelaxable:
                {
                    ulong real = e.Target.Block!.Edges[0].Target.Address.Value;
                    if (!TryRelaxGotLoad(mem, (int)e.Offset, (X86Edge)e.Kind == X86Edge.GotDelta32RexRelaxable, real, A, P))
                        WriteS32(field, (long)(S + (ulong)A - P), block, e);
                    break;
                }
                default:
                    throw FixupFields.Unexpected(block, e, this);
            }
        }
    }

    /// <summary>The stub's first edge leads to its GOT entry, whose edge leads to the real target.</summary>
    static ExecutorAddr StubFinalTarget(Symbol stub) =>
        stub.Block!.Edges[0].Target.Block is { Edges.Count: > 0 } slot ? slot.Edges[0].Target.Address : default;

    /// <summary>GOT-load relaxation (psABI B.2): "mov foo@GOTPCREL(%rip), %reg" becomes "lea foo(%rip), %reg";
    /// "call/jmp *foo@GOTPCREL(%rip)" become direct, when foo is in reach of a 32-bit displacement.</summary>
    static bool TryRelaxGotLoad(Span<byte> mem, int off, bool rex, ulong target, long addend, ulong p)
    {
        if (off < 2 || target == 0) return false;
        long disp = (long)(target + (ulong)addend - p);
        if (disp != (int)disp) return false;
        byte op = mem[off - 2], modrm = mem[off - 1];
        if (op == 0x8b) // mov r/m64 → lea
        {
            mem[off - 2] = 0x8d;
            BinaryPrimitives.WriteInt32LittleEndian(mem[off..], (int)disp);
            return true;
        }
        if (rex || op != 0xff) return false;
        if (modrm == 0x15) // call *disp(%rip) → addr32 call rel32
        {
            mem[off - 2] = 0x67; mem[off - 1] = 0xe8;
            BinaryPrimitives.WriteInt32LittleEndian(mem[off..], (int)disp);
            return true;
        }
        if (modrm == 0x25) // jmp *disp(%rip) → jmp rel32; nop (the displacement moves back one byte)
        {
            long d2 = disp + 1;
            if (d2 != (int)d2) return false;
            mem[off - 2] = 0xe9;
            BinaryPrimitives.WriteInt32LittleEndian(mem[(off - 1)..], (int)d2);
            mem[off + 3] = 0x90;
            return true;
        }
        return false;
    }

    static void Write64(Span<byte> f, ulong v) => FixupFields.Write64(f, v);

    static void WriteU32(Span<byte> f, ulong v, Block b, in Edge e)
    {
        if (v > uint.MaxValue) throw FixupFields.OutOfRange(b, e, (long)v, Instance);
        BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)v);
    }

    static void WriteS32(Span<byte> f, long v, Block b, in Edge e) => FixupFields.WriteChecked(f, v, int.MinValue, int.MaxValue, 4, b, e, Instance);
    static void Write16(Span<byte> f, long v, Block b, in Edge e) => FixupFields.WriteChecked(f, v, short.MinValue, ushort.MaxValue, 2, b, e, Instance);
    static void WriteS16(Span<byte> f, long v, Block b, in Edge e) => FixupFields.WriteChecked(f, v, short.MinValue, short.MaxValue, 2, b, e, Instance);
    static void Write8(Span<byte> f, long v, Block b, in Edge e) => FixupFields.WriteChecked(f, v, sbyte.MinValue, byte.MaxValue, 1, b, e, Instance);
    static void WriteS8(Span<byte> f, long v, Block b, in Edge e) => FixupFields.WriteChecked(f, v, sbyte.MinValue, sbyte.MaxValue, 1, b, e, Instance);
}
