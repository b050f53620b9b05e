# Absolute and PC-relative data relocations, sizes.
# ARGS: -slab-allocate 1Mb -slab-address 0x40000000 -slab-page-size 4096 -abs ext_low=0x1234 -abs ext_small=0x7f -abs ext_32s=0xffffffff80000010

        .text
        .globl  main
        .type   main,@function
main:
        retq
        .size   main, .-main

# R_X86_64_32S: a 32-bit signed absolute displacement (movl ext(,1), %eax).
# jitlink-check: decode_operand(abs32s_low, 4) = ext_low
# jitlink-check: decode_operand(abs32s_neg, 4)[31:0] = ext_32s[31:0]
        .globl  abs32s_low, abs32s_neg
abs32s_low:
        movl    ext_low, %eax
        .size   abs32s_low, .-abs32s_low
abs32s_neg:
        movl    ext_32s, %eax
        .size   abs32s_neg, .-abs32s_neg

# R_X86_64_PC32 to data in another section.
# jitlink-check: decode_operand(pc32, 4) = data_word - next_pc(pc32)
        .globl  pc32
pc32:
        movl    data_word(%rip), %eax
        .size   pc32, .-pc32

        .data
        .p2align 3
        .globl  data_word
data_word:
        .quad   0x1122334455667788
        .size   data_word, 8

# R_X86_64_64, with an addend.
# jitlink-check: *{8}ptr64 = data_word + 4
        .globl  ptr64
ptr64:
        .quad   data_word + 4
        .size   ptr64, 8

# R_X86_64_32 and R_X86_64_32S to a defined symbol (the slab sits below 2 GiB).
# jitlink-check: *{4}ptr32 = data_word
# jitlink-check: *{4}ptr32s = data_word + 8
        .globl  ptr32, ptr32s
ptr32:
        .long   data_word
ptr32s:
        .reloc  ., R_X86_64_32S, data_word + 8
        .long   0

# R_X86_64_16 and R_X86_64_8 to absolute values that fit.
# jitlink-check: *{2}ptr16 = ext_low
# jitlink-check: *{1}ptr8 = ext_small
        .globl  ptr16, ptr8
ptr16:
        .short  ext_low
ptr8:
        .byte   ext_small

# R_X86_64_PC64, R_X86_64_PC16, R_X86_64_PC8 (differences to a defined label).
# jitlink-check: *{8}pc64 = data_word - pc64
# jitlink-check: *{2}pc16 = (data_word - pc16)[15:0]
# jitlink-check: *{1}pc8 = (data_word - pc8)[7:0]
        .globl  pc64, pc16, pc8
pc64:
        .quad   data_word - .
pc16:
        .short  data_word - .
pc8:
        .byte   data_word - .

# R_X86_64_SIZE32 and R_X86_64_SIZE64: a symbol's size, plus the addend.
# jitlink-check: *{4}size32 = 8
# jitlink-check: *{8}size64 = 8 + 3
        .p2align 3
        .globl  size32, size64
size32:
        .long   data_word@SIZE
        .p2align 3
size64:
        .quad   data_word@SIZE + 3
