/* argc/argv, both streams, a non-zero exit status. */
#include <stdio.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) printf("arg %d: [%s]\n", i, argv[i]);
  fprintf(stderr, "argc is %d\n", argc);
  fputs("done\n", stdout);
  return 40 + argc;
}
