/* Seed (archive member): main, needing members util.o and data.o. */
#include <stdio.h>
int scale(int);
extern const char *greeting;
int main(void) { printf("%s %d\n", greeting, scale(14)); return 0; }
