# Thread-local relocations. Every TLS block of a link is in static TLS, so the dynamic sequences are
# rewritten to local-exec: the checks compare %fs offsets with each other (the block's own offset from
# the thread pointer is the executor's choice).
# ARGS: -slab-allocate 1Mb -slab-address 0x40000000 -slab-page-size 4096

        .text
        .globl  main
        .type   main,@function
main:
        retq
        .size   main, .-main

# R_X86_64_TPOFF32 (local-exec): movq %fs:x@tpoff, %rax.
# jitlink-check: decode_operand(le_b, 4) - decode_operand(le_a, 4) = tls_b - tls_a
        .globl  le_a, le_b
le_a:
        movq    %fs:tls_a@tpoff, %rax
        .size   le_a, .-le_a
le_b:
        movq    %fs:tls_b@tpoff, %rax
        .size   le_b, .-le_b

# R_X86_64_GOTTPOFF (initial-exec) becomes movq $x@tpoff, %rax: the same offset as local-exec.
# jitlink-check: *{2}ie_a = 0xc748
# jitlink-check: decode_operand(ie_a, 1) = decode_operand(le_a, 4)
        .globl  ie_a
ie_a:
        movq    tls_a@gottpoff(%rip), %rax
        .size   ie_a, .-ie_a

# R_X86_64_TLSGD + __tls_get_addr (general dynamic) becomes mov %fs:0,%rax; lea x@tpoff(%rax),%rax.
# jitlink-check: *{4}gd_b = 0x048b4864
# jitlink-check: decode_operand(gd_b_lea, 4) = decode_operand(le_b, 4)
        .globl  gd_b, gd_b_lea
gd_b:
        .byte   0x66
        leaq    tls_b@tlsgd(%rip), %rdi
        .value  0x6666
        rex64
        call    __tls_get_addr@PLT
        .size   gd_b, .-gd_b
gd_b_lea = gd_b + 9

# R_X86_64_TLSLD + R_X86_64_DTPOFF32 (local dynamic): the module base becomes %fs:0 and each
# DTPOFF32 a TP offset.
# jitlink-check: decode_operand(ld_off, 4) = decode_operand(le_b, 4)
        .globl  ld_base, ld_off
ld_base:
        leaq    tls_a@tlsld(%rip), %rdi
        call    __tls_get_addr@PLT
ld_off:
        leaq    tls_b@dtpoff(%rax), %rcx
        .size   ld_off, .-ld_off

# R_X86_64_GOTPC32_TLSDESC + R_X86_64_TLSDESC_CALL (descriptors): lea becomes mov $x@tpoff, the call a nop.
# jitlink-check: decode_operand(desc_lea, 1) = decode_operand(le_a, 4)
# jitlink-check: *{2}desc_call = 0x9066
        .globl  desc_lea, desc_call
desc_lea:
        leaq    tls_a@tlsdesc(%rip), %rax
desc_call:
        call    *tls_a@tlscall(%rax)
        .size   desc_call, .-desc_call

        .section .tdata,"awT",@progbits
        .p2align 3
        .globl  tls_a, tls_b
tls_a:
        .quad   1
        .size   tls_a, 8
tls_b:
        .quad   2
        .size   tls_b, 8

# R_X86_64_DTPMOD64, R_X86_64_DTPOFF64, R_X86_64_TPOFF64 in data. With the local-dynamic sequence
# above relaxed, every DTPOFF is a TP offset; the module id is the no-exec executor's (1).
# jitlink-check: *{8}dtpoff64 = *{8}tpoff64
# jitlink-check: (*{8}tpoff64) - (*{8}tpoff64_a) = tls_b - tls_a
# jitlink-check: *{8}dtpmod64 = 1
        .data
        .p2align 3
        .globl  dtpmod64, dtpoff64, tpoff64, tpoff64_a
dtpmod64:
        .reloc  ., R_X86_64_DTPMOD64, tls_b
        .quad   0
dtpoff64:
        .quad   tls_b@dtpoff
tpoff64:
        .reloc  ., R_X86_64_TPOFF64, tls_b
        .quad   0
tpoff64_a:
        .reloc  ., R_X86_64_TPOFF64, tls_a
        .quad   0
