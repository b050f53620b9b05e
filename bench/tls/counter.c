/* The thread-locals under test and the accessors the loop calls, in their own object so the access
   sequence is the one the TLS model dictates (not folded into the caller). */
_Thread_local unsigned long tls_counter = 1;
static _Thread_local unsigned long tls_private = 2;
__attribute__((noinline)) void bump(unsigned long by) { tls_counter += by; tls_private ^= by; }
unsigned long total(void) { return tls_counter + tls_private; }
