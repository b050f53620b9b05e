using System.Buffers.Binary;
using OrcSharp.JitLink;
using OrcSharp.JitLink.X86_64;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.JitLink;

/// <summary>Each x86-64 edge kind's formula, its range limits, and GOT-load relaxation, on hand-built blocks.</summary>
public class X86_64FixupTests
{
    static readonly X86_64Backend B = X86_64Backend.Instance;

    static (Block Block, byte[] Mem) BlockAt(ulong address, int size, byte[]? content = null)
    {
        var section = new Section(".text", MemProt.Read | MemProt.Exec, MemLifetime.Standard, 0);
        var block = new Block(section, content ?? new byte[size], (ulong)size, 16, false, "test.o", ".text") { Address = new ExecutorAddr(address) };
        return (block, (byte[])(content ?? new byte[size]).Clone());
    }

    static Symbol At(ulong address, ulong size = 0) => new() { Kind = SymbolKind.Absolute, Offset = address, Size = size, Name = "target" };

    static byte[] Apply(X86Edge kind, ulong blockAddr, uint offset, Symbol target, long addend, int size = 16, byte[]? content = null, ulong gotBase = 0)
    {
        var (block, mem) = BlockAt(blockAddr, size, content);
        block.Edges.Add(new Edge((ushort)kind, offset, target, addend));
        B.ApplyFixups(block, mem, new FixupContext(new ExecutorAddr(gotBase)));
        return mem;
    }

    [Fact]
    public void Pointer64_IsSPlusA()
    {
        var m = Apply(X86Edge.Pointer64, 0x1000, 8, At(0x7fff_1234_5678), 0x10);
        Assert.Equal(0x7fff_1234_5688UL, BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(8)));
    }

    [Fact]
    public void Pointer32_ZeroExtends_AndRejectsAbove4G()
    {
        var m = Apply(X86Edge.Pointer32, 0x1000, 0, At(0xffff_fff0), 0xf);
        Assert.Equal(0xffff_ffffU, BinaryPrimitives.ReadUInt32LittleEndian(m));
        var e = Assert.Throws<LinkError>(() => Apply(X86Edge.Pointer32, 0x1000, 0, At(0xffff_fff0), 0x10));
        Assert.Contains("out of range", e.Message);
        Assert.Contains("test.o", e.Message);
        Assert.Contains("target", e.Message);
    }

    [Fact]
    public void Pointer32Signed_SignExtends_AndRejectsAbove2G()
    {
        var m = Apply(X86Edge.Pointer32Signed, 0x1000, 0, At(0x7fff_ffff), 0);
        Assert.Equal(int.MaxValue, BinaryPrimitives.ReadInt32LittleEndian(m));
        m = Apply(X86Edge.Pointer32Signed, 0x1000, 0, At(0x10), -0x20);
        Assert.Equal(-0x10, BinaryPrimitives.ReadInt32LittleEndian(m));
        Assert.Throws<LinkError>(() => Apply(X86Edge.Pointer32Signed, 0x1000, 0, At(0x8000_0000), 0));
    }

    [Fact]
    public void Pointer16And8_Limits()
    {
        Assert.Equal(0xffff, BinaryPrimitives.ReadUInt16LittleEndian(Apply(X86Edge.Pointer16, 0, 0, At(0xffff), 0)));
        Assert.Throws<LinkError>(() => Apply(X86Edge.Pointer16, 0, 0, At(0x10000), 0));
        Assert.Equal(0xff, Apply(X86Edge.Pointer8, 0, 0, At(0xff), 0)[0]);
        Assert.Throws<LinkError>(() => Apply(X86Edge.Pointer8, 0, 0, At(0x100), 0));
    }

    [Fact]
    public void Delta32_IsSPlusAMinusP_WithLimits()
    {
        var m = Apply(X86Edge.Delta32, 0x40_0000, 4, At(0x40_1000), -4);
        Assert.Equal(0x1000 - 4 - 4, BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(4)));
        m = Apply(X86Edge.Delta32, 0x8000_0000, 0, At(0x10), 0);
        Assert.Equal(int.MinValue + 0x10, BinaryPrimitives.ReadInt32LittleEndian(m));
        Assert.Throws<LinkError>(() => Apply(X86Edge.Delta32, 0x1_0000_0000, 0, At(0x10), 0));
    }

    [Fact]
    public void Delta64_16_8()
    {
        var m = Apply(X86Edge.Delta64, 0x7000_0000_0000, 0, At(0x1000), 8);
        Assert.Equal(0x1008 - 0x7000_0000_0000L, BinaryPrimitives.ReadInt64LittleEndian(m));
        Assert.Equal(-2, BinaryPrimitives.ReadInt16LittleEndian(Apply(X86Edge.Delta16, 0x1002, 0, At(0x1000), 0)));
        Assert.Throws<LinkError>(() => Apply(X86Edge.Delta16, 0x0, 0, At(0x8000), 0));
        Assert.Equal(unchecked((byte)-128), Apply(X86Edge.Delta8, 0x1080, 0, At(0x1000), 0)[0]);
        Assert.Throws<LinkError>(() => Apply(X86Edge.Delta8, 0x1081, 0, At(0x1000), 0));
    }

    [Fact]
    public void GotRelativeKinds()
    {
        // GOTOFF64: S + A - GOT
        Assert.Equal(0x300L, BinaryPrimitives.ReadInt64LittleEndian(Apply(X86Edge.Delta64FromGot, 0, 0, At(0x5300), 0, gotBase: 0x5000)));
        // GOTPC32: GOT + A - P
        Assert.Equal(0x5000 + 3 - 0x1004, BinaryPrimitives.ReadInt32LittleEndian(Apply(X86Edge.GotBaseDelta32, 0x1000, 4, At(0), 3, gotBase: 0x5000).AsSpan(4)));
        // GOTPC64
        Assert.Equal(0x5000L - 0x1000, BinaryPrimitives.ReadInt64LittleEndian(Apply(X86Edge.GotBaseDelta64, 0x1000, 0, At(0), 0, gotBase: 0x5000)));
    }

    [Fact]
    public void SizeKinds_UseSymbolSize()
    {
        Assert.Equal(0x48U, BinaryPrimitives.ReadUInt32LittleEndian(Apply(X86Edge.Size32, 0, 0, At(0x1234, 0x40), 8)));
        Assert.Equal(0x40UL, BinaryPrimitives.ReadUInt64LittleEndian(Apply(X86Edge.Size64, 0, 0, At(0x1234, 0x40), 0)));
    }

    static Symbol GotEntryFor(Symbol target, ulong gotEntryAddress)
    {
        var section = new Section("$__GOT", MemProt.Read, MemLifetime.Standard, 1);
        var got = new Block(section, new byte[8], 8, 8, false, "<linker>", "GOT") { Address = new ExecutorAddr(gotEntryAddress) };
        got.Edges.Add(new Edge((ushort)X86Edge.Pointer64, 0, target, 0));
        return Symbol.Defined(null, got, 0, 8, Linkage.Strong, SymbolScope.Local, false);
    }

    [Fact]
    public void GotLoadRelaxesMovToLeaWhenInReach()
    {
        // mov foo@GOTPCREL(%rip), %rax = 48 8b 05 <disp32>
        var code = new byte[] { 0x48, 0x8b, 0x05, 0, 0, 0, 0, 0x90 };
        var m = Apply(X86Edge.GotDelta32RexRelaxable, 0x1000, 3, GotEntryFor(At(0x2000), 0x3000), -4, 8, code);
        Assert.Equal(0x8d, m[1]); // lea
        Assert.Equal(0x2000 - 4 - 0x1003, BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(3)));
    }

    [Fact]
    public void GotLoadStaysAGotLoadWhenOutOfReach()
    {
        var code = new byte[] { 0x48, 0x8b, 0x05, 0, 0, 0, 0, 0x90 };
        var m = Apply(X86Edge.GotDelta32RexRelaxable, 0x1000, 3, GotEntryFor(At(0x7f00_0000_0000), 0x3000), -4, 8, code);
        Assert.Equal(0x8b, m[1]); // still mov
        Assert.Equal(0x3000 - 4 - 0x1003, BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(3)));
    }

    [Fact]
    public void GotCallAndJumpRelaxToDirect()
    {
        // call *foo@GOTPCREL(%rip) = ff 15 <disp32>  →  addr32 call foo = 67 e8 <rel32>
        var call = Apply(X86Edge.GotDelta32Relaxable, 0x1000, 2, GotEntryFor(At(0x1800), 0x3000), -4, 6, new byte[] { 0xff, 0x15, 0, 0, 0, 0 });
        Assert.Equal(new byte[] { 0x67, 0xe8 }, call[..2]);
        Assert.Equal(0x1800 - 0x1006, BinaryPrimitives.ReadInt32LittleEndian(call.AsSpan(2)));
        // jmp *foo@GOTPCREL(%rip) = ff 25 <disp32>  →  jmp foo; nop = e9 <rel32> 90
        var jmp = Apply(X86Edge.GotDelta32Relaxable, 0x1000, 2, GotEntryFor(At(0x1800), 0x3000), -4, 6, new byte[] { 0xff, 0x25, 0, 0, 0, 0 });
        Assert.Equal(0xe9, jmp[0]);
        Assert.Equal(0x1800 - 0x1005, BinaryPrimitives.ReadInt32LittleEndian(jmp.AsSpan(1)));
        Assert.Equal(0x90, jmp[5]);
    }

    [Fact]
    public void EveryCompilerRelocationMapsToAnEdgeKind()
    {
        uint[] supported = { 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 31, 32, 33, 41, 42 };
        foreach (var t in supported) Assert.True(B.TryMapRelocation(t, out _, out int w) && w is 1 or 2 or 4 or 8, B.RelocationName(t));
        Assert.False(B.TryMapRelocation(250, out _, out _));
        Assert.True(B.IsNoneRelocation(0));
    }
}
