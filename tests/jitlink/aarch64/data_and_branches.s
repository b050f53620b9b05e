# Data, address and branch relocations.
# ARGS: -slab-allocate 4Mb -slab-address 0x40000000 -slab-page-size 4096 -abs ext_abs=0x12345678 -abs ext_small=0x1234

        .text
        .globl  main
        .type   main,@function
main:
        ret
        .size   main, .-main

        .globl  target_func
        .type   target_func,@function
target_func:
        ret
        .size   target_func, .-target_func

# R_AARCH64_CALL26, R_AARCH64_JUMP26: word offsets in imm26.
# jitlink-check: decode_operand(call26, 0)[25:0] = (target_func - call26)[27:2]
# jitlink-check: decode_operand(jump26, 0)[25:0] = (target_func - jump26)[27:2]
        .globl  call26, jump26
call26:
        bl      target_func
jump26:
        b       target_func

# R_AARCH64_CONDBR19 (b.cond, cbz), R_AARCH64_TSTBR14 (tbz).
# jitlink-check: decode_operand(condbr19, 1) = (far_label - condbr19)[20:2]
# jitlink-check: decode_operand(cbz19, 1) = (far_label - cbz19)[20:2]
# jitlink-check: decode_operand(tbz14, 2) = (near_label - tbz14)[15:2]
        .globl  condbr19, cbz19, tbz14
condbr19:
        b.ne    far_label
cbz19:
        cbz     x3, far_label
tbz14:
        tbz     w1, #3, near_label
        .skip   4096
        .globl  near_label
near_label:
        .skip   65536
        .globl  far_label
far_label:
        nop

# R_AARCH64_ADR_PREL_LO21 and R_AARCH64_LD_PREL_LO19.
# jitlink-check: decode_operand(adr21, 1) = data_word - adr21
# jitlink-check: decode_operand(ldr19, 1)[18:0] = (data_word - ldr19)[20:2]
        .globl  adr21, ldr19
adr21:
        adr     x0, data_word
ldr19:
        ldr     x1, data_word

# R_AARCH64_ADR_PREL_PG_HI21 (and _NC) with R_AARCH64_ADD_ABS_LO12_NC.
# jitlink-check: decode_operand(adrp21, 1) = data_word[32:12] - adrp21[32:12]
# jitlink-check: decode_operand(adrp21nc, 1) = data_word[32:12] - adrp21nc[32:12]
# jitlink-check: decode_operand(add_lo12, 2) = data_word[11:0]
        .globl  adrp21, adrp21nc, add_lo12
adrp21:
        adrp    x0, data_word
adrp21nc:
        .reloc  ., R_AARCH64_ADR_PREL_PG_HI21_NC, data_word
        adrp    x0, 0
add_lo12:
        add     x0, x0, :lo12:data_word

# R_AARCH64_LDST{8,16,32,64,128}_ABS_LO12_NC: the low 12 bits scaled by the access size.
# jitlink-check: decode_operand(ldst8, 2) = data_word[11:0]
# jitlink-check: decode_operand(ldst16, 2) = data_word[11:1]
# jitlink-check: decode_operand(ldst32, 2) = data_word[11:2]
# jitlink-check: decode_operand(ldst64, 2) = data_word[11:3]
# jitlink-check: decode_operand(ldst128, 2) = data_word[11:4]
        .globl  ldst8, ldst16, ldst32, ldst64, ldst128
ldst8:
        ldrb    w0, [x1, :lo12:data_word]
ldst16:
        strh    w0, [x1, :lo12:data_word]
ldst32:
        ldr     w0, [x1, :lo12:data_word]
ldst64:
        str     x0, [x1, :lo12:data_word]
ldst128:
        ldr     q0, [x1, :lo12:data_word]

# R_AARCH64_MOVW_UABS_G0..G3 (with and without overflow checks).
# jitlink-check: decode_operand(movw_g0, 1) = ext_small
# jitlink-check: decode_operand(movw_g0nc, 2) = data_word[15:0]
# jitlink-check: decode_operand(movw_g1, 1) = ext_abs[31:16]
# jitlink-check: decode_operand(movw_g1nc, 2) = data_word[31:16]
# jitlink-check: decode_operand(movw_g2, 1) = data_word[47:32]
# jitlink-check: decode_operand(movw_g2nc, 2) = data_word[47:32]
# jitlink-check: decode_operand(movw_g3, 2) = data_word[63:48]
        .globl  movw_g0, movw_g0nc, movw_g1, movw_g1nc, movw_g2, movw_g2nc, movw_g3
movw_g0:
        movz    x0, #:abs_g0:ext_small
movw_g0nc:
        movk    x0, #:abs_g0_nc:data_word
movw_g1:
        movz    x0, #:abs_g1:ext_abs
movw_g1nc:
        movk    x0, #:abs_g1_nc:data_word
movw_g2:
        movz    x0, #:abs_g2:data_word
movw_g2nc:
        movk    x0, #:abs_g2_nc:data_word
movw_g3:
        movk    x0, #:abs_g3:data_word

        .data
        .p2align 4
        .globl  data_word
data_word:
        .quad   0x1122334455667788, 0
        .size   data_word, 16

# R_AARCH64_ABS64, ABS32, ABS16; PREL64, PREL32, PREL16.
# jitlink-check: *{8}abs64 = data_word + 8
# jitlink-check: *{4}abs32 = ext_abs
# jitlink-check: *{2}abs16 = ext_small
# jitlink-check: *{8}prel64 = data_word - prel64
# jitlink-check: *{4}prel32 = (data_word - prel32)[31:0]
# jitlink-check: *{2}prel16 = (data_word - prel16)[15:0]
        .globl  abs64, abs32, abs16, prel64, prel32, prel16
abs64:
        .xword  data_word + 8
abs32:
        .word   ext_abs
abs16:
        .hword  ext_small
        .p2align 3
prel64:
        .xword  data_word - .
prel32:
        .word   data_word - .
prel16:
        .hword  data_word - .
