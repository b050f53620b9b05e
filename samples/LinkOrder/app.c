#include <stdio.h>

int square(int x);

int main(void) {
  printf("square(12) = %d\n", square(12));
  return 0;
}
