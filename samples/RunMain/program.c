#include <stdio.h>
#include <stdlib.h>

static int runs;

__attribute__((constructor)) static void init(void) { printf("constructor\n"); }
__attribute__((destructor)) static void fini(void) { printf("destructor\n"); }
static void bye(void) { printf("atexit handler\n"); }

int main(int argc, char **argv) {
  if (runs++ == 0) atexit(bye);
  printf("run %d of %s with %d argument(s)\n", runs, argv[0], argc - 1);
  return 40 + runs;
}
