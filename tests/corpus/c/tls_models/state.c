/* Thread-locals defined here, used from use.c: one address per thread across objects. The pointer
   initializers live in the TLS initial image and need relocating before any thread copies it. */
#include <stddef.h>
int global_counter = 5;
static const char greeting[] = "hello";
_Thread_local int *counter_ref = &global_counter;
_Thread_local const char *message = greeting;
_Thread_local long wide[3] __attribute__((aligned(64))) = { 1, 2, 3 };
_Thread_local char flags[5];
static _Thread_local int hidden = 40;
int *hidden_addr(void) { return &hidden; }
int bump_hidden(int by) { hidden += by; return hidden; }
