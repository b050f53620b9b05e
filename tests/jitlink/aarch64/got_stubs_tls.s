# GOT, stubs and veneers, and thread-local relocations (all rewritten to local-exec).
# ARGS: -slab-allocate 1Mb -slab-address 0x40000000 -slab-page-size 4096 -abs ext_func=0x7fff00000000 -abs ext_data=0x7fff00001000

        .text
        .globl  main
        .type   main,@function
main:
        ret
        .size   main, .-main

# A call to a far external goes through its stub: adrp x16, GOT; ldr x16, [x16, lo12]; br x16.
# jitlink-check: decode_operand(call_ext, 0)[25:0] = (stub_addr(got_stubs_tls.o, ext_func) - call_ext)[27:2]
# jitlink-check: *{8}(got_addr(got_stubs_tls.o, ext_func)) = ext_func
# jitlink-check: *{4}(stub_addr(got_stubs_tls.o, ext_func) + 8) = 0xd61f0200
        .globl  call_ext
call_ext:
        bl      ext_func

# R_AARCH64_ADR_GOT_PAGE and R_AARCH64_LD64_GOT_LO12_NC.
# jitlink-check: decode_operand(got_page, 1)[20:0] = (got_addr(got_stubs_tls.o, ext_data)[32:12] - got_page[32:12])[20:0]
# jitlink-check: decode_operand(got_lo12, 2) = got_addr(got_stubs_tls.o, ext_data)[11:3]
# jitlink-check: *{8}(got_addr(got_stubs_tls.o, ext_data)) = ext_data
        .globl  got_page, got_lo12
got_page:
        adrp    x0, :got:ext_data
got_lo12:
        ldr     x0, [x0, :got_lo12:ext_data]

# R_AARCH64_LD64_GOTPAGE_LO15: the entry's offset from the GOT's page, in words.
# jitlink-check: decode_operand(got_lo15, 2) = (got_addr(got_stubs_tls.o, ext_data) - (_GLOBAL_OFFSET_TABLE_ & 0xfffffffffffff000))[14:3]
        .globl  got_lo15
got_lo15:
        ldr     x1, [x0, :gotpage_lo15:ext_data]

# Thread-locals. Local-exec: R_AARCH64_TLSLE_ADD_TPREL_HI12 and _LO12_NC give the offset from TP.
# jitlink-check: (decode_operand(le_hi, 2) << 12) + decode_operand(le_lo, 2) - \
# jitlink-check:   ((decode_operand(le_hi2, 2) << 12) + decode_operand(le_lo2, 2)) = tls_b - tls_a
        .globl  le_hi, le_lo, le_hi2, le_lo2
le_hi:
        add     x0, x0, #:tprel_hi12:tls_b, lsl #12
le_lo:
        add     x0, x0, #:tprel_lo12_nc:tls_b
le_hi2:
        add     x1, x1, #:tprel_hi12:tls_a, lsl #12
le_lo2:
        add     x1, x1, #:tprel_lo12:tls_a

# Initial-exec: adrp + ldr of the GOT entry become movz/movk of the TP offset.
# jitlink-check: (decode_operand(ie_adrp, 1) << 16) + decode_operand(ie_ldr, 2) = \
# jitlink-check:   (decode_operand(le_hi, 2) << 12) + decode_operand(le_lo, 2)
        .globl  ie_adrp, ie_ldr
ie_adrp:
        adrp    x2, :gottprel:tls_b
ie_ldr:
        ldr     x2, [x2, :gottprel_lo12:tls_b]

# Descriptors: adrp/ldr/add/blr become movz/movk/nop/nop.
# jitlink-check: (decode_operand(desc_adrp, 1) << 16) + decode_operand(desc_ldr, 2) = \
# jitlink-check:   (decode_operand(le_hi2, 2) << 12) + decode_operand(le_lo2, 2)
# jitlink-check: *{4}desc_add = 0xd503201f
# jitlink-check: *{4}desc_call = 0xd503201f
        .globl  desc_adrp, desc_ldr, desc_add, desc_call
desc_adrp:
        adrp    x0, :tlsdesc:tls_a
desc_ldr:
        ldr     x1, [x0, :tlsdesc_lo12:tls_a]
desc_add:
        add     x0, x0, :tlsdesc_lo12:tls_a
desc_call:
        .tlsdesccall tls_a
        blr     x1

        .section .tdata,"awT",@progbits
        .p2align 3
        .globl  tls_a, tls_b
tls_a:
        .quad   1
tls_b:
        .quad   2

# R_AARCH64_TLS_TPREL64 and R_AARCH64_TLS_DTPREL64 in data.
# (A load's address extends to the right: parenthesize a load that an operator follows.)
# jitlink-check: (*{8}tprel64_b) - (*{8}tprel64_a) = tls_b - tls_a
# jitlink-check: *{8}dtprel64 = tls_b
        .data
        .p2align 3
        .globl  tprel64_a, tprel64_b, dtprel64
tprel64_a:
        .reloc  ., R_AARCH64_TLS_TPREL64, tls_a
        .xword  0
tprel64_b:
        .reloc  ., R_AARCH64_TLS_TPREL64, tls_b
        .xword  0
dtprel64:
        .reloc  ., R_AARCH64_TLS_DTPREL64, tls_b
        .xword  0
