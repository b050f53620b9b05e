/* Indirect functions from __attribute__((ifunc)): a global one defined in another object, used here
   through calls, a pointer in data and a pointer taken at run time, all one address; resolved before
   any initializer runs. (The address impl.c takes itself is left out: a native PIE link gives it the
   PLT entry's address while this object gets the resolved one. OrcSharp gives every reference one
   address; tests/OrcSharp.Tests/Platform/IndirectFunctionTests checks that against a non-PIE link.) */
#include <stdio.h>

int add(int a, int b);
int quadruple(int x);
int (*const add_in_data)(int, int) = add;
static int early;

__attribute__((constructor)) static void before_main(void) { early = add(40, 2); }

int main(void)
{
  int (*volatile taken)(int, int) = add;
  printf("early %d, direct %d, data %d, taken %d\n", early, add(1, 2), add_in_data(3, 4), taken(5, 6));
  printf("one address: %d %d\n", taken == add, add_in_data == add);
  printf("local indirect function: %d\n", quadruple(5));
  return 0;
}
