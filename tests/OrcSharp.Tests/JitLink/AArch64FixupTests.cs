using System.Buffers.Binary;
using OrcSharp.JitLink;
using OrcSharp.JitLink.AArch64;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.JitLink;

/// <summary>
/// Each AArch64 edge kind's formula on hand-built blocks: the value lands in the instruction field the
/// Arm architecture defines for it (decoded here independently), the opcode bits are kept, and values
/// at and just past each range limit are accepted and rejected.
/// </summary>
public class AArch64FixupTests
{
    static readonly AArch64Backend B = AArch64Backend.Instance;
    const uint Bl = 0x94000000, BCond = 0x54000000, Tbz = 0x36000000, LdrLit = 0x58000000, Adr = 0x10000000,
        Adrp = 0x90000000, AddImm = 0x91000000, LdrX = 0xf9400000, LdrW = 0xb9400000, LdrQ = 0x3dc00000, Movz = 0xd2800000;

    static Symbol At(ulong address) => new() { Kind = SymbolKind.Absolute, Offset = address, Name = "target" };

    static uint Apply(AArch64Edge kind, ulong pc, uint insn, Symbol target, long addend = 0, FixupContext ctx = default)
    {
        var section = new Section(".text", MemProt.Read | MemProt.Exec, MemLifetime.Standard, 0);
        var mem = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(mem, insn);
        var block = new Block(section, mem.ToArray(), 8, 4, false, "test.o", ".text") { Address = new ExecutorAddr(pc) };
        block.Edges.Add(new Edge((ushort)kind, 0, target, addend));
        B.ApplyFixups(block, mem, ctx);
        return BinaryPrimitives.ReadUInt32LittleEndian(mem);
    }

    static long SignExtend(ulong v, int bits) => (long)(v << (64 - bits)) >> (64 - bits);
    static long Imm26(uint i) => SignExtend(i & 0x3ffffff, 26) * 4;
    static long Imm19(uint i) => SignExtend((i >> 5) & 0x7ffff, 19) * 4;
    static long Imm14(uint i) => SignExtend((i >> 5) & 0x3fff, 14) * 4;
    static long AdrImm(uint i) => SignExtend((((i >> 5) & 0x7ffff) << 2) | ((i >> 29) & 3), 21);
    static uint Imm12(uint i) => (i >> 10) & 0xfff;
    static uint Imm16(uint i) => (i >> 5) & 0xffff;

    [Fact]
    public void Branch26_WordOffsetInLow26Bits_UpTo128MiB()
    {
        ulong pc = 0x4000_0000;
        uint i = Apply(AArch64Edge.Branch26, pc, Bl, At(pc + 0x1234));
        Assert.Equal(Bl, i & 0xfc000000);
        Assert.Equal(0x1234, Imm26(i));
        Assert.Equal(-(1L << 27), Imm26(Apply(AArch64Edge.Branch26, pc, Bl, At(pc - (1UL << 27)))));
        Assert.Equal((1L << 27) - 4, Imm26(Apply(AArch64Edge.Branch26, pc, Bl, At(pc + (1UL << 27) - 4))));
        var e = Assert.Throws<LinkError>(() => Apply(AArch64Edge.Branch26, pc, Bl, At(pc + (1UL << 27))));
        Assert.Contains("out of range", e.Message);
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.Branch26, pc, Bl, At(pc - (1UL << 27) - 4)));
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.Branch26, pc, Bl, At(pc + 2))); // not a whole instruction
    }

    [Theory]
    [InlineData(AArch64Edge.CondBranch19, BCond | 1, 20)]
    [InlineData(AArch64Edge.Literal19, LdrLit | 3, 20)]
    [InlineData(AArch64Edge.TestBranch14, Tbz | 5, 15)]
    public void ShortBranches_WordOffsetInBits5Up_WithTheirRanges(AArch64Edge kind, uint insn, int rangeBits)
    {
        ulong pc = 0x10_0000_0000;
        Func<uint, long> decode = kind == AArch64Edge.TestBranch14 ? Imm14 : Imm19;
        uint fieldMask = kind == AArch64Edge.TestBranch14 ? 0x3fffu << 5 : 0x7ffffu << 5;
        uint i = Apply(kind, pc, insn, At(pc - 0x40));
        Assert.Equal(-0x40, decode(i));
        Assert.Equal(insn, i & ~fieldMask);
        Assert.Equal((1L << rangeBits) - 4, decode(Apply(kind, pc, insn, At(pc + (1UL << rangeBits) - 4))));
        Assert.Equal(-(1L << rangeBits), decode(Apply(kind, pc, insn, At(pc - (1UL << rangeBits)))));
        Assert.Throws<LinkError>(() => Apply(kind, pc, insn, At(pc + (1UL << rangeBits))));
    }

    [Fact]
    public void Adr21_ByteOffsetSplitIntoImmloAndImmhi()
    {
        ulong pc = 0x1000;
        uint i = Apply(AArch64Edge.Adr21, pc, Adr | 7, At(pc + 0x12345));
        Assert.Equal(0x12345, AdrImm(i));
        Assert.Equal(Adr | 7u, i & 0x9f00001f);
        Assert.Equal(-(1L << 20), AdrImm(Apply(AArch64Edge.Adr21, 1UL << 21, Adr, At(1UL << 20))));
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.Adr21, pc, Adr, At(pc + (1UL << 20))));
    }

    [Fact]
    public void Page21_PageDifferenceOfTargetAndPlace_UpTo4GiB()
    {
        ulong pc = 0x7f00_1234_5678;
        ulong target = 0x7f00_9876_5432;
        uint i = Apply(AArch64Edge.Page21, pc, Adrp | 16, At(target));
        Assert.Equal((long)((target & ~0xfffUL) - (pc & ~0xfffUL)) >> 12, AdrImm(i));
        Assert.Equal(16u, i & 0x1f);
        Assert.Equal(0xb0000000u, Apply(AArch64Edge.Page21, 0x1000, Adrp, At(0x2fff))); // adrp x0, next page
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.Page21, 0x1_0000_0000_0000, Adrp, At(0x1_0001_0000_0000)));
        Apply(AArch64Edge.Page21NoCheck, 0x1_0000_0000_0000, Adrp, At(0x1_0001_0000_0000)); // _NC: no check
    }

    [Fact]
    public void PageOffsets_Low12BitsScaledByAccessSize_AndAligned()
    {
        Assert.Equal(0x678u, Imm12(Apply(AArch64Edge.PageOffset12, 0, AddImm, At(0x12345678))));
        Assert.Equal(0x678u >> 3, Imm12(Apply(AArch64Edge.PageOffset12Ldst64, 0, LdrX, At(0x12345678))));
        Assert.Equal(0x674u >> 2, Imm12(Apply(AArch64Edge.PageOffset12Ldst32, 0, LdrW, At(0x12345674))));
        Assert.Equal(0x670u >> 4, Imm12(Apply(AArch64Edge.PageOffset12Ldst128, 0, LdrQ, At(0x12345670))));
        var e = Assert.Throws<LinkError>(() => Apply(AArch64Edge.PageOffset12Ldst64, 0, LdrX, At(0x12345674)));
        Assert.Contains("aligned", e.Message);
    }

    [Fact]
    public void MovW_SixteenBitGroups_WithOverflowChecksExceptNc()
    {
        ulong v = 0x1234_5678_9abc_def0;
        Assert.Equal(0xdef0u, Imm16(Apply(AArch64Edge.MovWG0NoCheck, 0, Movz, At(v))));
        Assert.Equal(0x9abcu, Imm16(Apply(AArch64Edge.MovWG1NoCheck, 0, Movz, At(v))));
        Assert.Equal(0x5678u, Imm16(Apply(AArch64Edge.MovWG2NoCheck, 0, Movz, At(v))));
        Assert.Equal(0x1234u, Imm16(Apply(AArch64Edge.MovWG3, 0, Movz, At(v))));
        Assert.Equal(0xffffu, Imm16(Apply(AArch64Edge.MovWG0, 0, Movz, At(0xffff))));
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.MovWG0, 0, Movz, At(0x10000)));
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.MovWG1, 0, Movz, At(0x1_0000_0000)));
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.MovWG2, 0, Movz, At(0x1_0000_0000_0000)));
    }

    [Fact]
    public void DataRelocations_AbsoluteAndPcRelative_WithTheirRanges()
    {
        var section = new Section(".data", MemProt.Read, MemLifetime.Standard, 0);
        byte[] Run(AArch64Edge k, ulong target, ulong at = 0x1000)
        {
            var mem = new byte[8];
            var block = new Block(section, new byte[8], 8, 8, false, "test.o", ".data") { Address = new ExecutorAddr(at) };
            block.Edges.Add(new Edge((ushort)k, 0, At(target), 0));
            B.ApplyFixups(block, mem, default);
            return mem;
        }
        Assert.Equal(0xffff_ffffu, BinaryPrimitives.ReadUInt32LittleEndian(Run(AArch64Edge.Pointer32, 0xffff_ffff)));
        Assert.Throws<LinkError>(() => Run(AArch64Edge.Pointer32, 0x1_0000_0000));
        Assert.Equal(-0x1000, BinaryPrimitives.ReadInt32LittleEndian(Run(AArch64Edge.Delta32, 0)));
        Assert.Equal(0x7fff_0000_0000UL - 0x1000, BinaryPrimitives.ReadUInt64LittleEndian(Run(AArch64Edge.Delta64, 0x7fff_0000_0000)));
        Assert.Throws<LinkError>(() => Run(AArch64Edge.Delta16, 0x20000));
    }

    [Fact]
    public void ThreadLocals_BecomeLocalExec_WithTheRegistersOfTheOriginalInstructions()
    {
        var ctx = new FixupContext(default, new TlsModule(default, 1, 0x10));
        var tls = new Symbol { Kind = SymbolKind.Absolute, Offset = 0x12_3450, Name = "tls", IsThreadLocal = true };
        ulong tprel = 0x10 + 0x12_3450 + 8;
        uint movz = Apply(AArch64Edge.TlsIeAdrp, 0, Adrp | 5, tls, 8, ctx);
        Assert.Equal(0xd2a00000u | 5, movz & ~(0xffffu << 5)); // movz x5, #imm, lsl #16
        Assert.Equal((uint)(tprel >> 16), Imm16(movz));
        uint movk = Apply(AArch64Edge.TlsIeLdr, 0, LdrX | (5 << 5) | 5, tls, 8, ctx);
        Assert.Equal(0xf2800000u | 5, movk & ~(0xffffu << 5)); // movk x5, #imm
        Assert.Equal((uint)(tprel & 0xffff), Imm16(movk));
        Assert.Equal(AArch64Backend.Nop, Apply(AArch64Edge.TlsDescCall, 0, 0xd63f0020, tls, 0, ctx));
        Assert.Equal(0xd2a00000u, Apply(AArch64Edge.TlsDescAdrp, 0, Adrp, tls, 8, ctx) & ~(0xffffu << 5));
        Assert.Equal((uint)((tprel >> 12) & 0xfff), Imm12(Apply(AArch64Edge.TlsLeHi12, 0, AddImm, tls, 8, ctx)));
        Assert.Equal((uint)(tprel & 0xfff), Imm12(Apply(AArch64Edge.TlsLeLo12NoCheck, 0, AddImm, tls, 8, ctx)));
        Assert.Throws<LinkError>(() => Apply(AArch64Edge.TlsLeLo12, 0, AddImm, tls, 8, ctx)); // does not fit 12 bits
    }

    /// <summary>A branch to a target more than 128 MiB away gets a veneer right after the caller, which
    /// loads the target's full address and jumps to it; a target in reach keeps its direct branch.</summary>
    [Fact]
    public void FarBranchGetsAVeneerNearTheCaller()
    {
        var graph = new LinkGraph("veneers", TargetArch.AArch64);
        var text = graph.GetOrCreateSection(".text", MemProt.Read | MemProt.Exec);
        var far = graph.GetOrCreateSection(".text.far", MemProt.Read | MemProt.Exec);
        byte[] Code(uint insn) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, insn); return b; }
        var caller = new Block(text, Code(Bl), 4, 4, false, "test.o", ".text") { Address = new ExecutorAddr(0x1000_0000) };
        var callee = new Block(far, Code(0xd65f03c0), 4, 4, false, "test.o", ".text.far") { Address = new ExecutorAddr(0x1000_0000 + (200UL << 20)) };
        var near = new Block(text, Code(0xd65f03c0), 4, 4, false, "test.o", ".text") { Address = new ExecutorAddr(0x1000_0100) };
        text.Blocks.Add(caller); text.Blocks.Add(near); far.Blocks.Add(callee);
        var farSym = Symbol.Defined("far_function", callee, 0, 4, Linkage.Strong, SymbolScope.Default, true);
        var nearSym = Symbol.Defined("near_function", near, 0, 4, Linkage.Strong, SymbolScope.Default, true);
        caller.Edges.Add(new Edge((ushort)AArch64Edge.Branch26, 0, farSym, 0));
        near.Edges.Add(new Edge((ushort)AArch64Edge.Branch26, 0, nearSym, 0));

        Assert.True(B.AddRangeExtensions(graph));
        Assert.Equal(3, text.Blocks.Count);
        var veneer = text.Blocks[1];
        Assert.Same(veneer, caller.Edges[0].Target.Block);
        Assert.Same(nearSym, near.Edges[0].Target); // in reach: untouched

        // As layout would place it: right after the caller.
        veneer.Address = new ExecutorAddr(0x1000_0008);
        var mem = veneer.Content.ToArray();
        B.ApplyFixups(veneer, mem, default);
        Assert.Equal(0x58000050u, BinaryPrimitives.ReadUInt32LittleEndian(mem)); // ldr x16, #8
        Assert.Equal(0xd61f0200u, BinaryPrimitives.ReadUInt32LittleEndian(mem.AsSpan(4))); // br x16
        Assert.Equal(callee.Address.Value, BinaryPrimitives.ReadUInt64LittleEndian(mem.AsSpan(8)));
        var callMem = Code(Bl);
        B.ApplyFixups(caller, callMem, default);
        Assert.Equal(8, Imm26(BinaryPrimitives.ReadUInt32LittleEndian(callMem)));
        Assert.False(B.AddRangeExtensions(graph)); // nothing left out of reach
    }
}
