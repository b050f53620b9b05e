#include <stdio.h>
__attribute__((constructor)) static void announce(void) { printf("unused_member.o must not be linked\n"); }
int nobody_calls_this(void) { return 1; }
