/* libc calling back into JIT'd code, formatting, the environment, the heap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int by_len(const void *a, const void *b) { return (int)strlen(*(char *const *)a) - (int)strlen(*(char *const *)b); }
int main(void) {
  const char *w[] = { "ccc", "a", "dddd", "bb" };
  qsort(w, 4, sizeof w[0], by_len);
  for (int i = 0; i < 4; i++) printf("%s ", w[i]);
  printf("\n%.3f %e %ld\n", strtod("2.5e3", 0) / 7, 1.0 / 3, strtol("-0x1f", 0, 16));
  setenv("ORCSHARP_TEST_VAR", "set", 1);
  printf("env %s\n", getenv("ORCSHARP_TEST_VAR"));
  char *p = malloc(64); snprintf(p, 64, "%08.3f|%-5s|%5s", 3.14159, "ab", "cd"); printf("%s\n", p); free(p);
  return 0;
}
