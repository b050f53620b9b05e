/* A first program for orcsharp: arguments, stdout, stderr, an exit status, a constructor and atexit. */
#include <stdio.h>
#include <stdlib.h>

static const char *greeting = "uninitialized";
__attribute__((constructor)) static void init(void) { greeting = "hello"; }
static void goodbye(void) { printf("goodbye from an atexit handler\n"); }

int main(int argc, char **argv) {
  atexit(goodbye);
  printf("%s, %s! (argc=%d)\n", greeting, argc > 1 ? argv[1] : "nobody", argc);
  fprintf(stderr, "this line went to stderr\n");
  return argc > 1 ? 0 : 2;
}
