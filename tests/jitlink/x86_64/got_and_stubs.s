# GOT and PLT relocations: entries, stubs, and the optimizations that bypass them.
# ARGS: -slab-allocate 1Mb -slab-address 0x40000000 -slab-page-size 4096 -abs near_func=0x40080000 -abs far_func=0x7fff00000000 -abs far_data=0x7fff00001000

        .text
        .globl  main
        .type   main,@function
main:
        retq
        .size   main, .-main

        .globl  local_func
        .type   local_func,@function
local_func:
        retq
        .size   local_func, .-local_func

# R_X86_64_PLT32 to a function of the link: a direct call.
# jitlink-check: decode_operand(call_local, 0) = local_func - next_pc(call_local)
        .globl  call_local
call_local:
        callq   local_func@PLT
        .size   call_local, .-call_local

# R_X86_64_PLT32 to a far external: through its stub, which jumps through the GOT.
# jitlink-check: decode_operand(call_far, 0) = stub_addr(got_and_stubs.o, far_func) - next_pc(call_far)
# jitlink-check: *{8}(got_addr(got_and_stubs.o, far_func)) = far_func
# jitlink-check: *{2}stub_addr(got_and_stubs.o, far_func) = 0x25ff
# jitlink-check: *{4}(stub_addr(got_and_stubs.o, far_func) + 2) = \
# jitlink-check:     (got_addr(got_and_stubs.o, far_func) - (stub_addr(got_and_stubs.o, far_func) + 6))[31:0]
        .globl  call_far
call_far:
        callq   far_func@PLT
        .size   call_far, .-call_far

# R_X86_64_PLT32 to an external in reach: the stub is bypassed.
# jitlink-check: decode_operand(call_near, 0) = near_func - next_pc(call_near)
        .globl  call_near
call_near:
        callq   near_func@PLT
        .size   call_near, .-call_near

# R_X86_64_GOTPCREL (not relaxable): the GOT entry.
# jitlink-check: decode_operand(gotpcrel, 4) = got_addr(got_and_stubs.o, far_data) - next_pc(gotpcrel)
# jitlink-check: *{8}(got_addr(got_and_stubs.o, far_data)) = far_data
        .globl  gotpcrel
gotpcrel:
        leaq    far_data@GOTPCREL(%rip), %rax
        .size   gotpcrel, .-gotpcrel

# R_X86_64_REX_GOTPCRELX to a target out of reach: stays a GOT load.
# jitlink-check: *{1}rex_far + 1 = 0x8b
# jitlink-check: decode_operand(rex_far, 4) = got_addr(got_and_stubs.o, far_data) - next_pc(rex_far)
        .globl  rex_far
rex_far:
        movq    far_data@GOTPCREL(%rip), %rax
        .size   rex_far, .-rex_far

# R_X86_64_REX_GOTPCRELX in reach: mov becomes lea of the target itself.
# jitlink-check: *{1}rex_near + 1 = 0x8d
# jitlink-check: decode_operand(rex_near, 4) = local_func - next_pc(rex_near)
        .globl  rex_near
rex_near:
        movq    local_func@GOTPCREL(%rip), %rax
        .size   rex_near, .-rex_near

# R_X86_64_GOTPCRELX: call *GOT becomes addr32 call, PC-relative (not LLVM 19's absolute value).
# jitlink-check: *{1}call_gotpcrelx = 0x67
# jitlink-check: *{1}call_gotpcrelx + 1 = 0xe8
# jitlink-check: *{4}(call_gotpcrelx + 2) = (near_func - next_pc(call_gotpcrelx))[31:0]
        .globl  call_gotpcrelx
call_gotpcrelx:
        call    *near_func@GOTPCREL(%rip)
        .size   call_gotpcrelx, .-call_gotpcrelx

# R_X86_64_GOTPCRELX: jmp *GOT becomes jmp rel32; nop.
# jitlink-check: *{1}jmp_gotpcrelx = 0xe9
# jitlink-check: *{1}jmp_gotpcrelx + 5 = 0x90
# jitlink-check: decode_operand(jmp_gotpcrelx, 0) = near_func - (jmp_gotpcrelx + 5)
        .globl  jmp_gotpcrelx
jmp_gotpcrelx:
        jmp     *near_func@GOTPCREL(%rip)
        .size   jmp_gotpcrelx, .-jmp_gotpcrelx

# R_X86_64_GOTPC32: the distance to the GOT base.
# jitlink-check: decode_operand(gotpc32, 4) = _GLOBAL_OFFSET_TABLE_ - next_pc(gotpc32)
        .globl  gotpc32
gotpc32:
        leaq    _GLOBAL_OFFSET_TABLE_(%rip), %rbx
        .size   gotpc32, .-gotpc32

# Large code model: R_X86_64_GOTPC64, R_X86_64_GOT64, R_X86_64_GOTOFF64, R_X86_64_PLTOFF64,
# R_X86_64_GOTPCREL64.
# jitlink-check: decode_operand(gotpc64, 1) = _GLOBAL_OFFSET_TABLE_ - base
# jitlink-check: decode_operand(got64, 1) = got_addr(got_and_stubs.o, far_data) - _GLOBAL_OFFSET_TABLE_
# jitlink-check: decode_operand(gotoff64, 1) = local_func - _GLOBAL_OFFSET_TABLE_
# jitlink-check: decode_operand(pltoff64, 1) = local_func - _GLOBAL_OFFSET_TABLE_
        .globl  base, gotpc64, got64, gotoff64, pltoff64
base:
        leaq    base(%rip), %rax
gotpc64:
        movabsq $_GLOBAL_OFFSET_TABLE_-base, %rcx
got64:
        movabsq $far_data@GOT, %rax
gotoff64:
        movabsq $local_func@GOTOFF, %rax
pltoff64:
        movabsq $local_func@PLTOFF, %rax
        .size   pltoff64, .-pltoff64

        .data
        .p2align 3
# R_X86_64_GOTPCREL64 in data: the GOT entry relative to the field.
# jitlink-check: *{8}gotpcrel64 = got_addr(got_and_stubs.o, far_data) - gotpcrel64
        .globl  gotpcrel64
gotpcrel64:
        .reloc  ., R_X86_64_GOTPCREL64, far_data
        .quad   0
# R_X86_64_GOT32: the GOT entry's offset from the GOT base.
# jitlink-check: *{4}got32 = got_addr(got_and_stubs.o, far_func) - _GLOBAL_OFFSET_TABLE_
        .globl  got32
got32:
        .reloc  ., R_X86_64_GOT32, far_func
        .long   0
