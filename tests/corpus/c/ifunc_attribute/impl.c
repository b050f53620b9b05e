#include <stddef.h>

static int add_checked(int a, int b) { return a + b; }
static int add_unused(int a, int b) { return a - b; }
/* Read by the resolver: relocated data is in place before resolvers run. */
static int (*const candidates[])(int, int) = { add_unused, add_checked };
static int choice = 1;

static void *resolve_add(void) { return (void *)candidates[choice]; }
int add(int a, int b) __attribute__((ifunc("resolve_add")));

/* A file-local indirect function (STB_LOCAL). clang -O0 for AArch64 calls an indirect function
   defined in the same file through an address built with ADRP, which GNU ld cannot link, so the native
   oracle gets a plain function there. */
static int twice_impl(int x) { return 2 * x; }
__attribute__((unused)) static void *resolve_twice(void) { return (void *)twice_impl; }
#if defined(__aarch64__) && defined(__clang__) && !defined(__OPTIMIZE__)
static int twice(int x) { return twice_impl(x); }
#else
static int twice(int x) __attribute__((ifunc("resolve_twice")));
#endif

int quadruple(int x) { return twice(twice(x)); }
