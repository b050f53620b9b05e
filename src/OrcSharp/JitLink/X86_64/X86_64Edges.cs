namespace OrcSharp.JitLink.X86_64;

/// <summary>
/// x86-64 edge kinds. S = target address, A = addend, P = fixup address, GOT = GOT base
/// (_GLOBAL_OFFSET_TABLE_), Z = target symbol size. The formula of each kind is in
/// <see cref="X86_64Backend.ApplyFixups"/>, side by side.
/// </summary>
public enum X86Edge : ushort
{
    Pointer64 = 1,            // R_X86_64_64         S + A
    Pointer32,                // R_X86_64_32         S + A, must fit in 32 bits unsigned
    Pointer32Signed,          // R_X86_64_32S        S + A, must fit in 32 bits signed
    Pointer16,                // R_X86_64_16         S + A, 16 bits
    Pointer8,                 // R_X86_64_8          S + A, 8 bits
    Delta64,                  // R_X86_64_PC64       S + A - P
    Delta32,                  // R_X86_64_PC32       S + A - P, signed 32
    Delta16,                  // R_X86_64_PC16       S + A - P, signed 16
    Delta8,                   // R_X86_64_PC8        S + A - P, signed 8
    Delta64FromGot,           // R_X86_64_GOTOFF64   S + A - GOT
    GotBaseDelta32,           // R_X86_64_GOTPC32    GOT + A - P
    GotBaseDelta64,           // R_X86_64_GOTPC64    GOT + A - P
    Size32,                   // R_X86_64_SIZE32     Z + A
    Size64,                   // R_X86_64_SIZE64     Z + A

    // Requests rewritten by the GOT/stub pass (never reach fixup).
    BranchPCRel32,            // R_X86_64_PLT32      L + A - P (L: stub, or S itself when in reach)
    RequestGotDelta32,        // R_X86_64_GOTPCREL   G + GOT + A - P
    RequestGotDelta32Relax,   // R_X86_64_GOTPCRELX  same, relaxable (no REX prefix)
    RequestGotDelta32RexRelax,// R_X86_64_REX_GOTPCRELX same, relaxable (REX prefix)
    RequestGotDelta64,        // R_X86_64_GOTPCREL64 G + GOT + A - P
    RequestGotOffset64,       // R_X86_64_GOT64      G + A
    RequestGotOffset32,       // R_X86_64_GOT32      G + A

    // Produced by the GOT/stub pass: the target is a GOT entry or stub symbol.
    BranchToStubBypassable,   // Delta32 to a stub; to S directly when S + A - P fits
    GotDelta32Relaxable,      // Delta32 to a GOT entry; mov becomes lea (and call/jmp direct) when S is in reach
    GotDelta32RexRelaxable,
    GotOffset64,              // GOT entry address - GOT
    GotOffset32,

    // Thread-local storage. S is the target's offset in its module's TLS block (see ThreadLocalImage),
    // TP the block's offset from the thread pointer, M the module id.
    TpOff32,                  // R_X86_64_TPOFF32    S + A + TP, signed 32
    TpOff64,                  // R_X86_64_TPOFF64    S + A + TP
    DtpOff32,                 // R_X86_64_DTPOFF32   S + A, signed 32
    DtpOff64,                 // R_X86_64_DTPOFF64   S + A
    DtpMod64,                 // R_X86_64_DTPMOD64   M

    // Requests rewritten by the TLS pass (X86_64TlsRelaxation; never reach fixup).
    RequestTlsGd,             // R_X86_64_TLSGD      GOT pair {M, S} + A - P, or relaxed to local-exec
    RequestTlsLd,             // R_X86_64_TLSLD      GOT pair {M, 0} + A - P, or relaxed to local-exec
    RequestGotTpOff,          // R_X86_64_GOTTPOFF   GOT entry {S + TP} + A - P, or relaxed to local-exec
    RequestTlsDesc,           // R_X86_64_GOTPC32_TLSDESC  descriptor + A - P, or relaxed to local-exec
    TlsDescCall,              // R_X86_64_TLSDESC_CALL     marks "call *(%rax)"; nothing to write
}
