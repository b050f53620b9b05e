/* The crash report for JIT'd code (docs/debugging.md), linked into the orcsharp executable.

   When JIT'd code (or a library it called) dies of SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT, this
   handler writes the faulting address and a backtrace whose JIT'd frames are named from the link's own
   tables ("#0 crash_here+0x12 (crash.c:5) [crash.o]") and whose library frames read as backtrace_symbols
   writes them, then lets the signal kill the process as it would have (same exit status, same core).

   At signal time it only reads memory prepared beforehand (the tables Executor/TargetProcess/CrashReport.cs
   keeps, laid out by Shared/SymbolizationTable.cs), unwinds with libgcc's _Unwind_Backtrace (resolved at
   install; it knows every JIT'd .eh_frame, so optimized frames without frame pointers unwind too), names
   library frames with dladdr1, and writes with write(2). It runs on an alternate signal stack, so a stack
   overflow is reported as well. Faults that involve no JIT'd frame go to the handler that was installed
   before (the .NET runtime's, which turns faults in managed code into exceptions). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

struct symtab {
  uint32_t magic, version;
  uint64_t code_start, code_end;
  uint32_t function_count, line_count;
  uint32_t functions, lines;  /* offsets from the start of the table */
  int32_t strings;            /* the link's string table: before the table or after it */
  uint32_t strings_size;
};
struct symtab_function { uint64_t start, size; uint32_t name, object; };
struct symtab_line { uint64_t address; uint32_t file, line; };
struct symtab_node { struct symtab_node *next; const struct symtab *table; };

typedef int (*trace_fn)(void *context, void *arg);
static int (*unwind_backtrace)(trace_fn, void *);
static uintptr_t (*unwind_get_ip_info)(void *context, int *ip_before_insn);
static const void *(*find_fde)(void *pc, void *bases);
enum { URC_NO_REASON = 0, URC_END_OF_STACK = 5 };

static struct symtab_node *volatile *tables;
static int report_fd = 2;
static char first_line[192];
static int installed;
static struct sigaction previous[NSIG];
static volatile int reporting;
static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

/* ---- output: a line buffer written with write(2) ---------------------------------------------- */

struct out { size_t len; char buf[1024]; };

static void out_flush(struct out *o) {
  size_t done = 0;
  while (done < o->len) {
    ssize_t n = write(report_fd, o->buf + done, o->len - done);
    if (n > 0) done += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else break; /* a full pipe or a closed descriptor: the rest is lost, the crash goes on */
  }
  o->len = 0;
}

static void put(struct out *o, const char *s) {
  for (; *s; s++) {
    if (o->len == sizeof o->buf) out_flush(o);
    o->buf[o->len++] = *s;
  }
}

static void put_hex(struct out *o, uint64_t v) {
  char t[19];
  int i = sizeof t - 1;
  t[i] = 0;
  do { t[--i] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  t[--i] = 'x';
  t[--i] = '0';
  put(o, t + i);
}

static void put_dec(struct out *o, uint64_t v) {
  char t[21];
  int i = sizeof t - 1;
  t[i] = 0;
  do { t[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  put(o, t + i);
}

/* ---- the link tables -------------------------------------------------------------------------- */

static const struct symtab *table_for(uintptr_t pc) {
  for (struct symtab_node *n = tables ? *tables : 0; n; n = n->next)
    if (pc >= n->table->code_start && pc < n->table->code_end) return n->table;
  return 0;
}

/* The last record (of count, size bytes each, keyed by their first u64) whose key is at most pc. */
static const void *last_at_or_below(const char *base, uint32_t count, size_t size, uintptr_t pc) {
  uint32_t lo = 0, hi = count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (*(const uint64_t *)(base + mid * size) <= pc) lo = mid + 1;
    else hi = mid;
  }
  return lo ? base + (lo - 1) * size : 0;
}

static const struct symtab_function *function_at(const struct symtab *t, uintptr_t pc) {
  const struct symtab_function *f =
      last_at_or_below((const char *)t + t->functions, t->function_count, sizeof *f, pc);
  return f && pc - f->start < f->size ? f : 0;
}

static const struct symtab_line *line_at(const struct symtab *t, uintptr_t pc) {
  const struct symtab_line *l = last_at_or_below((const char *)t + t->lines, t->line_count, sizeof *l, pc);
  return l && l->line ? l : 0;
}

/* ---- the walk --------------------------------------------------------------------------------- */

enum { HEAD = 48, TAIL = 16, MAX_FRAMES = 1000000 };

struct walk {
  uintptr_t pc;        /* the interrupted instruction: the walk starts at its frame */
  int started, jit;
  uint64_t total;
  uintptr_t head[HEAD], tail[TAIL];
};

static int on_frame(void *context, void *arg) {
  struct walk *w = arg;
  int before = 0;
  uintptr_t ip = unwind_get_ip_info(context, &before);
  if (!w->started) {
    if (ip != w->pc) return URC_NO_REASON; /* this handler's frames and the signal trampoline */
    w->started = 1;
  }
  if (!ip) return URC_END_OF_STACK;
  if (!w->jit && table_for(w->total ? ip - 1 : ip)) w->jit = 1;
  if (w->total < HEAD) w->head[w->total] = ip;
  else w->tail[(w->total - HEAD) % TAIL] = ip;
  return ++w->total >= MAX_FRAMES ? URC_END_OF_STACK : URC_NO_REASON;
}

/* ---- the report ------------------------------------------------------------------------------- */

static uintptr_t context_pc(const ucontext_t *uc) {
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.pc;
#else
#error "crash reports support x86-64 and AArch64"
#endif
}

static uintptr_t context_sp(const ucontext_t *uc) {
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#else
  return (uintptr_t)uc->uc_mcontext.sp;
#endif
}

static const char *signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "signal";
  }
}

static const char *code_text(int sig, int code) {
  switch (sig) {
    case SIGSEGV:
      return code == SEGV_MAPERR ? "address not mapped to object" : code == SEGV_ACCERR ? "invalid permissions for mapped object" : 0;
    case SIGBUS:
      return code == BUS_ADRALN ? "invalid address alignment" : code == BUS_ADRERR ? "nonexistent physical address"
           : code == BUS_OBJERR ? "object-specific hardware error" : 0;
    case SIGILL:
      return code == ILL_ILLOPC ? "illegal opcode" : code == ILL_ILLOPN ? "illegal operand" : code == ILL_ILLADR ? "illegal addressing mode"
           : code == ILL_ILLTRP ? "illegal trap" : code == ILL_PRVOPC ? "privileged opcode" : code == ILL_PRVREG ? "privileged register"
           : code == ILL_COPROC ? "coprocessor error" : code == ILL_BADSTK ? "internal stack error" : 0;
    case SIGFPE:
      return code == FPE_INTDIV ? "integer divide by zero" : code == FPE_INTOVF ? "integer overflow" : code == FPE_FLTDIV ? "floating-point divide by zero"
           : code == FPE_FLTOVF ? "floating-point overflow" : code == FPE_FLTUND ? "floating-point underflow" : code == FPE_FLTRES ? "floating-point inexact result"
           : code == FPE_FLTINV ? "invalid floating-point operation" : code == FPE_FLTSUB ? "subscript out of range" : 0;
    default: return 0;
  }
}

static void print_frame(struct out *o, uint64_t index, uintptr_t ip, int exact) {
  uintptr_t at = exact ? ip : ip - 1; /* a return address belongs to the call before it */
  put(o, "#");
  put_dec(o, index);
  put(o, " ");
  const struct symtab *t = table_for(at);
  if (t) {
    const char *strings = (const char *)t + t->strings;
    const struct symtab_function *f = function_at(t, at);
    const struct symtab_line *l = line_at(t, at);
    if (f) { put(o, strings + f->name); put(o, "+"); put_hex(o, ip - f->start); }
    else put_hex(o, ip);
    if (l) { put(o, " ("); put(o, strings + l->file); put(o, ":"); put_dec(o, l->line); put(o, ")"); }
    if (f) { put(o, " ["); put(o, strings + f->object); put(o, "]"); }
    put(o, "\n");
    return;
  }
  /* As backtrace_symbols: file(symbol+offset) [address], or file(+offset from the load base), or file(). */
  Dl_info info;
  struct link_map *map = 0;
  if (dladdr1((void *)at, &info, (void **)&map, RTLD_DL_LINKMAP) && info.dli_fname) {
    put(o, info.dli_fname);
    put(o, "(");
    if (info.dli_sname) { put(o, info.dli_sname); put(o, "+"); put_hex(o, ip - (uintptr_t)info.dli_saddr); }
    else {
      /* A position-dependent executable has load base 0: backtrace_symbols then prints "file() [address]". */
      uintptr_t base = map ? (uintptr_t)map->l_addr : (uintptr_t)info.dli_fbase;
      if (base) { put(o, "+"); put_hex(o, ip - base); }
    }
    put(o, ") [");
    put_hex(o, ip);
    put(o, "]\n");
  } else {
    put(o, "?? [");
    put_hex(o, ip);
    put(o, "]\n");
  }
}

static void report(int sig, const siginfo_t *info, const ucontext_t *uc, const struct walk *w) {
  static struct out o; /* static: the alternate stack stays small; one report at a time (reporting) */
  o.len = 0;
  if (first_line[0]) { put(&o, first_line); put(&o, signal_name(sig)); put(&o, "\n"); }
  put(&o, signal_name(sig));
  if (info->si_code <= 0) {
    /* Sent, not a fault: abort(), raise(), kill. */
    put(&o, info->si_pid == getpid() ? " raised by the program" : " sent by process ");
    if (info->si_pid != getpid()) put_dec(&o, (uint64_t)info->si_pid);
  } else {
    const char *what = code_text(sig, info->si_code);
    if (what) { put(&o, " ("); put(&o, what); put(&o, ")"); }
    put(&o, " at address ");
    put_hex(&o, (uintptr_t)info->si_addr);
    uintptr_t addr = (uintptr_t)info->si_addr, sp = context_sp(uc);
    if (sig == SIGSEGV && addr + 65536 >= sp && addr <= sp + 4096) put(&o, " (stack overflow)");
  }
  put(&o, ", thread ");
  put_dec(&o, (uint64_t)syscall(SYS_gettid));
  put(&o, "\n");
  if (!w->started) {
    print_frame(&o, 0, w->pc, 1);
    put(&o, "(the unwinder could not go past the signal frame)\n");
  } else {
    for (uint64_t i = 0; i < w->total && i < HEAD; i++) print_frame(&o, i, w->head[i], i == 0);
    if (w->total > HEAD) {
      uint64_t shown = w->total - HEAD < TAIL ? w->total - HEAD : TAIL;
      if (w->total - HEAD > shown) {
        put(&o, "... ");
        put_dec(&o, w->total - HEAD - shown);
        put(&o, " frames not shown ...\n");
      }
      for (uint64_t i = w->total - shown; i < w->total; i++) print_frame(&o, i, w->tail[(i - HEAD) % TAIL], 0);
    }
    if (w->total >= MAX_FRAMES) put(&o, "(the walk stopped there)\n");
  }
  out_flush(&o);
}

/* ---- the handler ------------------------------------------------------------------------------ */

static void on_signal(int sig, siginfo_t *info, void *context);

/* Gives the signal to the handler that was there before; true if it dealt with it (it returned and
   left this handler installed), false if there was none or it gave up (restored the default). */
static int forward(int sig, siginfo_t *info, void *context) {
  struct sigaction *p = &previous[sig];
  if (p->sa_flags & SA_SIGINFO) {
    if (!p->sa_sigaction) return 0;
    p->sa_sigaction(sig, info, context);
  } else {
    if (p->sa_handler == SIG_DFL || p->sa_handler == SIG_IGN) return 0;
    p->sa_handler(sig);
  }
  struct sigaction now;
  return sigaction(sig, 0, &now) == 0 && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_signal;
}

static void restore_default(int sig) {
  struct sigaction d;
  memset(&d, 0, sizeof d);
  d.sa_handler = SIG_DFL;
  sigemptyset(&d.sa_mask);
  sigaction(sig, &d, 0);
}

static volatile int watched_signal;

/* If the walk hangs (the unwinder's lock held by the very code that crashed), the crash still ends
   the process, by its own signal. */
static void on_watchdog(int unused) {
  (void)unused;
  int sig = watched_signal;
  restore_default(sig);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, 0);
  raise(sig);
}

static void on_signal(int sig, siginfo_t *info, void *context) {
  int saved_errno = errno;
  const ucontext_t *uc = context;
  uintptr_t pc = context_pc(uc);
  if (!table_for(pc) && forward(sig, info, context)) { errno = saved_errno; return; }
  if (__atomic_exchange_n(&reporting, 1, __ATOMIC_SEQ_CST)) for (;;) pause(); /* another thread reports */

  static struct walk w;
  memset(&w, 0, sizeof w);
  w.pc = pc;
  watched_signal = sig;
  struct sigaction watchdog;
  memset(&watchdog, 0, sizeof watchdog);
  watchdog.sa_handler = on_watchdog;
  sigemptyset(&watchdog.sa_mask);
  watchdog.sa_flags = SA_ONSTACK;
  sigaction(SIGALRM, &watchdog, 0);
  alarm(30);
  unwind_backtrace(on_frame, &w);
  if (w.jit || table_for(pc)) report(sig, info, uc, &w);
  alarm(0);

  restore_default(sig);
  /* A fault happens again when the instruction is retried; a sent signal is sent again (it stays
     pending until this handler returns). Either way the default action ends the process. */
  if (info->si_code <= 0) raise(sig);
  errno = saved_errno;
}

/* ---- set-up (called from C# before any JIT'd code runs) --------------------------------------- */

__attribute__((visibility("default"), used)) int orcsharp_crash_report_install(struct symtab_node *volatile *list, int fd, const char *line) {
  void *gcc = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!gcc) return -1;
  unwind_backtrace = (int (*)(trace_fn, void *))dlsym(gcc, "_Unwind_Backtrace");
  unwind_get_ip_info = (uintptr_t(*)(void *, int *))dlsym(gcc, "_Unwind_GetIPInfo");
  find_fde = (const void *(*)(void *, void *))dlsym(gcc, "_Unwind_Find_FDE");
  if (!unwind_backtrace || !unwind_get_ip_info || !find_fde) return -1;
  tables = list;
  report_fd = fd;
  size_t n = line ? strlen(line) : 0;
  if (n >= sizeof first_line) n = sizeof first_line - 1;
  memcpy(first_line, line ? line : "", n);
  first_line[n] = 0;
  if (installed) return 0;
  for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(crash_signals[i], &sa, &previous[crash_signals[i]]) != 0) return -1;
  }
  installed = 1;
  return 0;
}

/* libgcc sorts frame tables registered since the last search on the next search, with malloc: do
   it now, outside any signal handler. */
__attribute__((visibility("default"), used)) void orcsharp_crash_report_prepare(uintptr_t pc) {
  uintptr_t bases[3];
  if (find_fde) find_fde((void *)(pc + 1), bases);
}

enum { ALT_STACK_SIZE = 256 * 1024 };

struct alt_stack { stack_t previous; size_t mapped; };

/* An alternate signal stack for the calling thread while it runs JIT'd code (a guard page below it).
   Returns what orcsharp_crash_report_leave_thread needs, or 0 when the thread keeps the one it has. */
__attribute__((visibility("default"), used)) void *orcsharp_crash_report_enter_thread(void) {
  stack_t old;
  if (sigaltstack(0, &old) == 0 && !(old.ss_flags & SS_DISABLE) && old.ss_size >= ALT_STACK_SIZE) return 0;
  size_t page = (size_t)sysconf(_SC_PAGESIZE), mapped = ALT_STACK_SIZE + 2 * page;
  char *m = mmap(0, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return 0;
  mprotect(m + page, page, PROT_NONE);
  struct alt_stack *s = (struct alt_stack *)m; /* bookkeeping in the first page, the guard above it */
  s->previous = old;
  s->mapped = mapped;
  stack_t ss = {.ss_sp = m + 2 * page, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
  if (sigaltstack(&ss, 0) != 0) { munmap(m, mapped); return 0; }
  return m;
}

__attribute__((visibility("default"), used)) void orcsharp_crash_report_leave_thread(void *token) {
  if (!token) return;
  struct alt_stack *s = token;
  stack_t previous = s->previous;
  if (previous.ss_flags & SS_DISABLE) { previous.ss_sp = 0; previous.ss_size = 0; }
  sigaltstack(&previous, 0);
  munmap(token, s->mapped);
}
