/* Constructor priorities and destructors, atexit ordering against destructors. */
#include <stdio.h>
#include <stdlib.h>
static int ready;
__attribute__((constructor(300))) static void late(void) { printf("ctor 300 sees ready=%d\n", ready); }
__attribute__((constructor(150))) static void early(void) { ready = 1; printf("ctor 150\n"); }
__attribute__((destructor)) static void fin(void) { printf("destructor\n"); }
static void handler(void) { printf("atexit handler\n"); }
int main(void) { atexit(handler); printf("main ready=%d\n", ready); return 0; }
