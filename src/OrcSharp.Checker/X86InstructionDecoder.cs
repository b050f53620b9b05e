using Iced.Intel;

namespace OrcSharp.Checker;

/// <summary>
/// x86-64 instructions through Iced, with the operands laid out as LLVM's MCInst has them: a memory
/// operand is five (base, scale, index, displacement, segment; a RIP-relative displacement is the raw
/// field), a branch target is its raw displacement, and the destination of a two-address instruction
/// (read and written, e.g. add %rax, %rcx) appears twice, as LLVM ties it to the first source.
/// </summary>
public sealed class X86InstructionDecoder : IInstructionDecoder
{
    static readonly InstructionInfoFactory Info = new();

    public DecodedInstruction? Decode(ReadOnlySpan<byte> code, ulong address)
    {
        if (code.IsEmpty) return null;
        var bytes = code[..Math.Min(code.Length, 15)].ToArray();
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(bytes), address);
        decoder.Decode(out var insn);
        if (insn.IsInvalid) return null;
        var ops = new List<Operand>();
        var access = Info.GetInfo(insn);
        for (int i = 0; i < insn.OpCount; i++)
        {
            switch (insn.GetOpKind(i))
            {
                case OpKind.Register:
                    ops.Add(Operand.Reg(insn.GetOpRegister(i).ToString().ToLowerInvariant()));
                    if (i == 0 && access.Op0Access == OpAccess.ReadWrite) ops.Add(ops[0]);
                    break;
                case OpKind.Memory:
                    bool rip = insn.MemoryBase == Register.RIP;
                    long disp = rip ? (long)(insn.MemoryDisplacement64 - insn.NextIP) : (long)insn.MemoryDisplacement64;
                    ops.Add(Operand.Reg(insn.MemoryBase == Register.None ? "noreg" : insn.MemoryBase.ToString().ToLowerInvariant()));
                    ops.Add(Operand.Imm(insn.MemoryIndexScale));
                    ops.Add(Operand.Reg(insn.MemoryIndex == Register.None ? "noreg" : insn.MemoryIndex.ToString().ToLowerInvariant()));
                    ops.Add(Operand.Imm(disp));
                    ops.Add(Operand.Reg(insn.SegmentPrefix == Register.None ? "noreg" : insn.SegmentPrefix.ToString().ToLowerInvariant()));
                    break;
                case OpKind.NearBranch16:
                case OpKind.NearBranch32:
                case OpKind.NearBranch64:
                    ops.Add(Operand.Imm((long)(insn.NearBranchTarget - insn.NextIP)));
                    break;
                case OpKind.Immediate8:
                case OpKind.Immediate8_2nd:
                case OpKind.Immediate16:
                case OpKind.Immediate32:
                case OpKind.Immediate64:
                case OpKind.Immediate8to16:
                case OpKind.Immediate8to32:
                case OpKind.Immediate8to64:
                case OpKind.Immediate32to64:
                    ops.Add(Operand.Imm((long)insn.GetImmediate(i)));
                    break;
                default:
                    ops.Add(Operand.Reg(insn.GetOpKind(i).ToString()));
                    break;
            }
        }
        var text = new StringOutput();
        new GasFormatter().Format(insn, text);
        return new DecodedInstruction(insn.Length, text.ToStringAndReset(), ops);
    }
}
