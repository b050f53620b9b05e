/* A weak undefined symbol is null; a weak definition is used when nothing overrides it. */
#include <stdio.h>
extern int absent_function(void) __attribute__((weak));
extern int absent_variable __attribute__((weak));
__attribute__((weak)) int tunable(void) { return 7; }
int main(void) {
  printf("absent_function %s\n", absent_function ? "present" : "null");
  printf("absent_variable %s\n", &absent_variable ? "present" : "null");
  printf("tunable %d\n", tunable());
  return 0;
}
