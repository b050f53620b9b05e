#include <stdio.h>
__attribute__((constructor)) static void announce(void) { printf("square.o is linked\n"); }
int square(int x) { return x * x; }
