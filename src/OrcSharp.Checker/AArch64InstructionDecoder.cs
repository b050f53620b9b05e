using System.Buffers.Binary;

namespace OrcSharp.Checker;

/// <summary>
/// The AArch64 instruction forms that relocations patch, and those the linker itself writes (stubs,
/// veneers, TLS rewrites), with their operands in LLVM's MCInst order. Branch and literal offsets are the
/// signed field value (in words for branches and literal loads, in bytes for ADR, in pages for ADRP);
/// load/store offsets are the scaled unsigned field.
/// </summary>
public sealed class AArch64InstructionDecoder : IInstructionDecoder
{
    public DecodedInstruction? Decode(ReadOnlySpan<byte> code, ulong address)
    {
        if (code.Length < 4) return null;
        uint w = BinaryPrimitives.ReadUInt32LittleEndian(code);
        var d = DecodeWord(w);
        return d is null ? null : new DecodedInstruction(4, d.Value.Text, d.Value.Ops);
    }

    static long SignExtend(uint v, int bits) => (long)((ulong)v << (64 - bits)) >> (64 - bits);
    static uint Field(uint w, int lo, int bits) => (w >> lo) & ((1u << bits) - 1);

    static string X(uint r, bool sp = false) => r == 31 ? (sp ? "sp" : "xzr") : $"x{r}";
    static string W(uint r, bool sp = false) => r == 31 ? (sp ? "wsp" : "wzr") : $"w{r}";
    static string R(bool is64, uint r, bool sp = false) => is64 ? X(r, sp) : W(r, sp);

    static (string Text, Operand[] Ops)? Make(string mnemonic, params Operand[] ops) =>
        (mnemonic + " " + string.Join(", ", ops.Select(o => o.IsImmediate ? "#" + o.Text : o.Text)), ops);

    static Operand Reg(string name) => Operand.Reg(name);
    static Operand Imm(long v) => Operand.Imm(v);

    static (string Text, Operand[] Ops)? DecodeWord(uint w)
    {
        if (w == 0xd503201f) return ("nop", []);
        // B, BL: imm26 words.
        if ((w & 0x7c000000) == 0x14000000) return Make((w >> 31) != 0 ? "bl" : "b", Imm(SignExtend(Field(w, 0, 26), 26)));
        // B.cond: cond, imm19.
        if ((w & 0xff000010) == 0x54000000) return Make("b.cond", Imm(Field(w, 0, 4)), Imm(SignExtend(Field(w, 5, 19), 19)));
        // CBZ, CBNZ: Rt, imm19.
        if ((w & 0x7e000000) == 0x34000000)
            return Make((w & 0x01000000) != 0 ? "cbnz" : "cbz", Reg(R((w >> 31) != 0, Field(w, 0, 5))), Imm(SignExtend(Field(w, 5, 19), 19)));
        // TBZ, TBNZ: Rt, bit, imm14.
        if ((w & 0x7e000000) == 0x36000000)
        {
            uint bit = (Field(w, 31, 1) << 5) | Field(w, 19, 5);
            return Make((w & 0x01000000) != 0 ? "tbnz" : "tbz", Reg(R(bit >= 32, Field(w, 0, 5))), Imm(bit), Imm(SignExtend(Field(w, 5, 14), 14)));
        }
        // BR, BLR, RET: Rn.
        if ((w & 0xff9ffc1f) == 0xd61f0000 || (w & 0xfffffc1f) == 0xd65f0000)
            return Make((w & 0x00600000) switch { 0 => "br", 0x00200000 => "blr", _ => "ret" }, Reg(X(Field(w, 5, 5))));
        // ADR, ADRP: Rd, imm21 (bytes, or pages).
        if ((w & 0x1f000000) == 0x10000000)
        {
            long imm = SignExtend((Field(w, 5, 19) << 2) | Field(w, 29, 2), 21);
            return Make((w >> 31) != 0 ? "adrp" : "adr", Reg(X(Field(w, 0, 5))), Imm(imm));
        }
        // LDR (literal), LDRSW (literal), PRFM (literal): Rt, imm19 words.
        if ((w & 0x3b000000) == 0x18000000)
        {
            uint opc = Field(w, 30, 2);
            bool simd = (w & 0x04000000) != 0;
            string rt = simd ? $"{"sdq"[Math.Min((int)opc, 2)]}{Field(w, 0, 5)}" : opc is 1 or 2 ? X(Field(w, 0, 5)) : opc == 0 ? W(Field(w, 0, 5)) : $"#{Field(w, 0, 5)}";
            string m = simd ? "ldr" : opc switch { 2 => "ldrsw", 3 => "prfm", _ => "ldr" };
            return Make(m, Reg(rt), Imm(SignExtend(Field(w, 5, 19), 19)));
        }
        // ADD/SUB (immediate), with or without flags: Rd, Rn, imm12, shift.
        if ((w & 0x1f800000) == 0x11000000)
        {
            bool is64 = (w >> 31) != 0, sub = (w & 0x40000000) != 0, flags = (w & 0x20000000) != 0;
            string m = (sub ? "sub" : "add") + (flags ? "s" : "");
            return Make(m, Reg(R(is64, Field(w, 0, 5), !flags)), Reg(R(is64, Field(w, 5, 5), true)), Imm(Field(w, 10, 12)), Imm(Field(w, 22, 1) * 12));
        }
        // MOVN, MOVZ, MOVK: Rd, [Rd (tied, MOVK),] imm16, shift.
        if ((w & 0x1f800000) == 0x12800000)
        {
            bool is64 = (w >> 31) != 0;
            uint opc = Field(w, 29, 2);
            if (opc == 1) return null;
            var rd = Reg(R(is64, Field(w, 0, 5)));
            var imm = Imm(Field(w, 5, 16));
            var shift = Imm(Field(w, 21, 2) * 16);
            return opc switch
            {
                0 => Make("movn", rd, imm, shift),
                2 => Make("movz", rd, imm, shift),
                _ => Make("movk", rd, rd, imm, shift),
            };
        }
        // Loads and stores.
        if ((w & 0x0a000000) == 0x08000000) return DecodeLoadStore(w);
        return null;
    }

    static (string Text, Operand[] Ops)? DecodeLoadStore(uint w)
    {
        uint size = Field(w, 30, 2), opc = Field(w, 22, 2);
        bool simd = (w & 0x04000000) != 0;
        // Load/store pair, signed offset: Rt, Rt2, Rn, imm7 (scaled).
        if ((w & 0x3b800000) == 0x29000000)
        {
            bool load = (w & 0x00400000) != 0;
            uint opc2 = Field(w, 30, 2);
            string T(uint r) => simd ? $"{"sdq"[(int)opc2]}{r}" : opc2 == 2 ? X(r) : W(r);
            return Make(load ? "ldp" : "stp", Reg(T(Field(w, 0, 5))), Reg(T(Field(w, 10, 5))), Reg(X(Field(w, 5, 5), true)), Imm(SignExtend(Field(w, 15, 7), 7)));
        }
        string Rt()
        {
            uint r = Field(w, 0, 5);
            if (simd) return $"{(opc >= 2 && size == 0 ? 'q' : "bhsd"[(int)size])}{r}";
            if (size == 3 || (opc == 2 && size != 3)) return X(r);
            return W(r);
        }
        string Mnemonic(string baseName)
        {
            if (simd) return baseName;
            string suffix = size switch { 0 => "b", 1 => "h", _ => "" };
            if (opc >= 2) return size == 3 && opc == 2 ? "prfm" : baseName + "s" + (size == 2 ? "w" : suffix);
            return baseName + suffix;
        }
        bool isLoad = opc != 0;
        // Unsigned offset: Rt, Rn, imm12 (scaled by the access size).
        if ((w & 0x3b000000) == 0x39000000)
            return Make(Mnemonic(isLoad ? "ldr" : "str"), Reg(Rt()), Reg(X(Field(w, 5, 5), true)), Imm(Field(w, 10, 12)));
        // Unscaled (LDUR/STUR): Rt, Rn, imm9.
        if ((w & 0x3b200c00) == 0x38000000)
            return Make(Mnemonic(isLoad ? "ldur" : "stur"), Reg(Rt()), Reg(X(Field(w, 5, 5), true)), Imm(SignExtend(Field(w, 12, 9), 9)));
        return null;
    }
}
