/* Library data and functions reached from another object and from data: with -fno-pic, clang -O0
   reads stdout, optind and environ through 32-bit absolute relocations, which need copies of the
   variables that the library shares, and canonical addresses for the functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;
extern int (*const puts_elsewhere)(const char *);
extern size_t (*const strlen_elsewhere)(const char *);
int (*const puts_here)(const char *) = puts;
int compare_ints(const void *a, const void *b);

int main(void)
{
  fprintf(stdout, "stdout through %s\n", "fprintf");
  fputs("stderr through fputs\n", stderr);
  printf("puts: same here %d, same elsewhere %d\n", puts_here == puts, puts_elsewhere == puts);
  printf("strlen: same %d, result %zu\n", strlen_elsewhere == strlen, strlen_elsewhere("four"));

  /* getopt updates optind inside libc: the program must see the same variable. */
  char *args[] = { "prog", "-x", "-y", "rest", NULL };
  optind = 1;
  opterr = 0;
  int seen = 0;
  while (getopt(4, args, "xy") != -1) seen++;
  printf("getopt: %d options, optind %d, next '%s'\n", seen, optind, args[optind]);

  int values[] = { 5, 3, 9, 1 };
  qsort(values, 4, sizeof values[0], compare_ints);
  printf("qsort: %d %d %d %d\n", values[0], values[1], values[2], values[3]);
  printf("environ: %s\n", environ != NULL && environ[0] != NULL ? "set" : "empty");
  fflush(stdout);
  return 0;
}
