/* Three objects calling each other, a shared global, static functions with the same name. */
#include <stdio.h>
extern int shared_counter;
int left(int);
int right(int);
static int local(void) { return 100; }
int main(void) {
  int r = left(3) + right(4) + local();
  printf("left+right+local = %d, counter = %d\n", r, shared_counter);
  return 0;
}
