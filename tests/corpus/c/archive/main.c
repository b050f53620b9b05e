/* Only the archive members that resolve something are linked; their dependencies come along. */
#include <stdio.h>
int square_plus_one(int);
int main(void) { printf("square_plus_one(6) = %d\n", square_plus_one(6)); return 0; }
