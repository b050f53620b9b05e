/* The GDB JIT interface (LLDB reads it too), linked into the orcsharp executable so that debuggers find
   it in every process that runs JIT'd code: in process, and in "orcsharp executor". A debugger looks up
   __jit_debug_descriptor by name, puts a breakpoint on __jit_debug_register_code, and reads the list of
   in-memory object files whenever that function is called. The list itself is kept by
   Executor/TargetProcess/GdbJitInterface.cs; the layout below is the one the GDB manual documents. */
#include <stdint.h>

struct jit_code_entry {
  struct jit_code_entry *next_entry;
  struct jit_code_entry *prev_entry;
  const char *symfile_addr;
  uint64_t symfile_size;
};

struct jit_descriptor {
  uint32_t version; /* 1: the only version there is; the debugger checks it before anything is registered */
  uint32_t action_flag;
  struct jit_code_entry *relevant_entry;
  struct jit_code_entry *first_entry;
};

__attribute__((visibility("default"), used)) struct jit_descriptor __jit_debug_descriptor = {1, 0, 0, 0};

/* Debuggers break here: it must stay a real, called function. */
__attribute__((visibility("default"), used, noinline)) void __jit_debug_register_code(void) {
  __asm__ volatile("" ::: "memory");
}
