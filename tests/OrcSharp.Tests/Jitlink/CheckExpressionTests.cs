using OrcSharp.Checker;
using Xunit;

namespace OrcSharp.Tests.Jitlink;

/// <summary>The check language's evaluation rules, on a made-up link: left-to-right operators, loads
/// whose address extends to the right, bit slices, numbers, and the instruction operands of both decoders
/// in LLVM's MCInst order.</summary>
public class CheckExpressionTests
{
    sealed class FakeLink(IInstructionDecoder decoder, byte[] code) : ILinkView
    {
        public ulong SymbolAddress(string name) => name switch
        {
            "a" => 0x1000, "b" => 0x10, "code" => 0x4000,
            _ => throw new CheckError($"no known address for symbol '{name}'"),
        };
        public ReadOnlyMemory<byte> SymbolContent(string name) => name == "code" ? code : throw new CheckError("no code");
        public ulong SectionAddress(string file, string section) => file == "x.o" && section == ".text" ? 0x4000UL : throw new CheckError("no section");
        public ulong GotAddress(string file, string symbol) => 0x8000;
        public ulong StubAddress(string file, string symbol, string? kind) => 0x9000;
        public ulong Read(ulong address, int size) => address == 0x1004 ? 0x1122334455667788UL & (size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1) : 0UL;
        public IInstructionDecoder Decoder => decoder;
    }

    static ulong L(string check, byte[]? code = null, bool arm = false)
    {
        var link = new FakeLink(arm ? new AArch64InstructionDecoder() : new X86InstructionDecoder(), code ?? []);
        var (l, r) = new CheckExpression(link).Evaluate(check);
        Assert.Equal(r, 0UL);
        return l;
    }

    [Theory]
    [InlineData("a + b - 0x10 = 0", 0x1000UL)]
    [InlineData("a - b << 4 = 0", 0xff00UL)]          // left to right: (a - b) << 4
    [InlineData("a | 0xf & 0x3 = 0", 0x3UL)]
    [InlineData("a >> 12 = 0", 1UL)]
    [InlineData("b - a = 0", 0xfffffffffffff010UL)]   // 64-bit wrap
    [InlineData("(a + b)[11:4] = 0", 0x1UL)]
    [InlineData("*{8}a + 4 = 0", 0x1122334455667788UL)] // the load address extends to the right
    [InlineData("*{2}(a + 4) = 0", 0x7788UL)]
    [InlineData("(*{4}(a + 4)) + 1 = 0", 0x55667789UL)]
    [InlineData("got_addr(x.o, foo) - stub_addr(x.o, foo) = 0", 0xfffffffffffff000UL)]
    [InlineData("section_addr(x.o, .text) = 0", 0x4000UL)]
    [InlineData("a[63:0] = 0", 0x1000UL)]
    public void Evaluates(string check, ulong expected) => Assert.Equal(expected, L(check));

    [Fact]
    public void DoubleEqualsAccepted() =>
        Assert.Equal((0x1000UL, 0x1000UL), new CheckExpression(new FakeLink(new X86InstructionDecoder(), [])).Evaluate("a == 4096"));

    [Theory]
    [InlineData("nope = 1", "no known address for symbol 'nope'")]
    [InlineData("a + ) = 1", "expected '(', '*', a name or a number")]
    [InlineData("a + = 1", "unexpected end of expression")]
    [InlineData("*{9}a = 1", "cannot load 9 bytes")]
    [InlineData("(a = 1", "expected ')'")]
    [InlineData("a b = 1", "expected end of expression")]
    [InlineData("a", "expected 'left = right'")]
    public void Errors(string check, string message)
    {
        var e = Assert.Throws<CheckError>(() => new CheckExpression(new FakeLink(new X86InstructionDecoder(), [])).Evaluate(check));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void X86_RipRelativeMemoryIsFiveOperands_WithTheRawDisplacement()
    {
        byte[] lea = [0x48, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00]; // leaq 0x10(%rip), %rax
        Assert.Equal(0x10UL, L("decode_operand(code, 4) = 0", lea));
        Assert.Equal(0x4007UL, L("next_pc(code) = 0", lea));
        byte[] call = [0xe8, 0xfb, 0xff, 0xff, 0xff]; // call . (rel32 = -5)
        Assert.Equal(unchecked((ulong)-5L), L("decode_operand(code, 0) = 0", call));
        byte[] addRm = [0x48, 0x03, 0x05, 0x20, 0x00, 0x00, 0x00]; // addq 0x20(%rip), %rax: dst, src1 (tied), mem
        Assert.Equal(0x20UL, L("decode_operand(code, 5) = 0", addRm));
        byte[] movabs = [0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8]; // movabsq $0x0807060504030201, %rax
        Assert.Equal(0x0807060504030201UL, L("decode_operand(code, 1) = 0", movabs));
        var e = Assert.Throws<CheckError>(() => L("decode_operand(code, 0) = 0", movabs));
        Assert.Contains("is not an immediate", e.Message);
    }

    [Theory]
    [InlineData(0x94000010u, 0, 16L)]        // bl #0x40
    [InlineData(0x17ffffffu, 0, -1L)]        // b #-4
    [InlineData(0x54000041u, 1, 2L)]         // b.ne #8
    [InlineData(0xb4000063u, 1, 3L)]         // cbz x3, #12
    [InlineData(0x36180081u, 2, 4L)]         // tbz w1, #3, #16
    [InlineData(0x30000000u, 1, 1L)]         // adr x0, #1
    [InlineData(0xb0000000u, 1, 1L)]         // adrp x0, #1 page
    [InlineData(0x58000041u, 1, 2L)]         // ldr x1, #8
    [InlineData(0x91004000u, 2, 0x10L)]      // add x0, x0, #0x10
    [InlineData(0xd2a00020u, 1, 1L)]         // movz x0, #1, lsl #16
    [InlineData(0xf2800040u, 2, 2L)]         // movk x0, #2
    [InlineData(0xf9400420u, 2, 1L)]         // ldr x0, [x1, #8]
    [InlineData(0x3dc00420u, 2, 1L)]         // ldr q0, [x1, #16]
    [InlineData(0x39400420u, 2, 1L)]         // ldrb w0, [x1, #1]
    public void AArch64_Operands(uint word, int index, long value)
    {
        var bytes = BitConverter.GetBytes(word);
        Assert.Equal(unchecked((ulong)value), L($"decode_operand(code, {index}) = 0", bytes, arm: true));
    }
}
