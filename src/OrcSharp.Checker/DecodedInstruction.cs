namespace OrcSharp.Checker;

/// <summary>One operand as LLVM's MC layer numbers it: a register or an immediate.</summary>
public readonly record struct Operand(bool IsImmediate, long Value, string Text)
{
    public static Operand Imm(long v) => new(true, v, v.ToString(System.Globalization.CultureInfo.InvariantCulture));
    public static Operand Reg(string name) => new(false, 0, name);
}

/// <summary>A decoded instruction: its length and its operands in LLVM's MCInst order, which the check
/// language's decode_operand(label, N) indexes.</summary>
public sealed record DecodedInstruction(int Length, string Text, IReadOnlyList<Operand> Operands);

/// <summary>Decodes one instruction at the start of <c>code</c>; null when the bytes are not an
/// instruction this decoder knows.</summary>
public interface IInstructionDecoder
{
    DecodedInstruction? Decode(ReadOnlySpan<byte> code, ulong address);
}
