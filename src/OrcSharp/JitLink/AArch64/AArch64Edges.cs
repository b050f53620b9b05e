namespace OrcSharp.JitLink.AArch64;

/// <summary>
/// AArch64 edge kinds. S = target address, A = addend, P = fixup address, Page(x) = x &amp; ~0xfff,
/// GOT = GOT base, TP = the link's TLS block offset from the thread pointer (S of a thread-local is its
/// offset in that block). Instruction fields: imm26/imm19/imm14 branch offsets in words, imm21 of ADR/ADRP,
/// imm12 of ADD and of scaled loads/stores, imm16 of MOVZ/MOVK. Formulas are in
/// <see cref="AArch64Backend.ApplyFixups"/>, side by side.
/// </summary>
public enum AArch64Edge : ushort
{
    Pointer64 = 1,        // R_AARCH64_ABS64              S + A
    Pointer32,            // R_AARCH64_ABS32              S + A, -2^31 <= X < 2^32
    Pointer16,            // R_AARCH64_ABS16              S + A, -2^15 <= X < 2^16
    Delta64,              // R_AARCH64_PREL64             S + A - P
    Delta32,              // R_AARCH64_PREL32             S + A - P, -2^31 <= X < 2^32
    Delta16,              // R_AARCH64_PREL16             S + A - P, -2^15 <= X < 2^16
    Branch26,             // R_AARCH64_CALL26, JUMP26     (S + A - P) >> 2, +-128 MiB (stub or veneer beyond)
    CondBranch19,         // R_AARCH64_CONDBR19           (S + A - P) >> 2, +-1 MiB
    TestBranch14,         // R_AARCH64_TSTBR14            (S + A - P) >> 2, +-32 KiB
    Literal19,            // R_AARCH64_LD_PREL_LO19       (S + A - P) >> 2, +-1 MiB
    Adr21,                // R_AARCH64_ADR_PREL_LO21      S + A - P, +-1 MiB
    Page21,               // R_AARCH64_ADR_PREL_PG_HI21   (Page(S + A) - Page(P)) >> 12, +-4 GiB
    Page21NoCheck,        // R_AARCH64_ADR_PREL_PG_HI21_NC
    PageOffset12,         // R_AARCH64_ADD_ABS_LO12_NC    (S + A) & 0xfff
    PageOffset12Ldst8,    // R_AARCH64_LDST8_ABS_LO12_NC  (S + A) & 0xfff
    PageOffset12Ldst16,   // R_AARCH64_LDST16_ABS_LO12_NC ((S + A) & 0xfff) >> 1
    PageOffset12Ldst32,   // R_AARCH64_LDST32_ABS_LO12_NC ((S + A) & 0xfff) >> 2
    PageOffset12Ldst64,   // R_AARCH64_LDST64_ABS_LO12_NC ((S + A) & 0xfff) >> 3
    PageOffset12Ldst128,  // R_AARCH64_LDST128_ABS_LO12_NC ((S + A) & 0xfff) >> 4
    MovWG0,               // R_AARCH64_MOVW_UABS_G0       (S + A) & 0xffff, S + A < 2^16
    MovWG0NoCheck,        // R_AARCH64_MOVW_UABS_G0_NC
    MovWG1,               // R_AARCH64_MOVW_UABS_G1       ((S + A) >> 16) & 0xffff, S + A < 2^32
    MovWG1NoCheck,        // R_AARCH64_MOVW_UABS_G1_NC
    MovWG2,               // R_AARCH64_MOVW_UABS_G2       ((S + A) >> 32) & 0xffff, S + A < 2^48
    MovWG2NoCheck,        // R_AARCH64_MOVW_UABS_G2_NC
    MovWG3,               // R_AARCH64_MOVW_UABS_G3       (S + A) >> 48

    // Requests rewritten by the GOT/stub pass (S becomes the GOT entry of the original target).
    RequestGotPage21,     // R_AARCH64_ADR_GOT_PAGE       (Page(G) - Page(P)) >> 12
    RequestGotLo12,       // R_AARCH64_LD64_GOT_LO12_NC   (G & 0xfff) >> 3
    RequestGotPageLo15,   // R_AARCH64_LD64_GOTPAGE_LO15  (G - Page(GOT)) >> 3, 0 <= X < 2^15
    GotPageOffset15,      // produced from RequestGotPageLo15

    // Thread-local storage, all resolved to the local-exec form (every block is in static TLS).
    TlsLeHi12,            // R_AARCH64_TLSLE_ADD_TPREL_HI12      ((TP + S + A) >> 12) & 0xfff, < 2^24
    TlsLeLo12,            // R_AARCH64_TLSLE_ADD_TPREL_LO12      (TP + S + A) & 0xfff, < 2^12
    TlsLeLo12NoCheck,     // R_AARCH64_TLSLE_ADD_TPREL_LO12_NC
    TlsIeAdrp,            // R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21  adrp Xd -> movz Xd, #(TP+S+A)>>16, lsl #16
    TlsIeLdr,             // R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC ldr Xt -> movk Xt, #(TP+S+A) & 0xffff
    TlsDescAdrp,          // R_AARCH64_TLSDESC_ADR_PAGE21   adrp x0 -> movz x0, #(TP+S+A)>>16, lsl #16
    TlsDescLdr,           // R_AARCH64_TLSDESC_LD64_LO12    ldr x1 -> movk x0, #(TP+S+A) & 0xffff
    TlsDescAdd,           // R_AARCH64_TLSDESC_ADD_LO12     add x0 -> nop
    TlsDescCall,          // R_AARCH64_TLSDESC_CALL         blr x1 -> nop
    TpRel64,              // R_AARCH64_TLS_TPREL64          TP + S + A
    DtpRel64,             // R_AARCH64_TLS_DTPREL64         S + A
}
