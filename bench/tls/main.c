/* Thread-local access loop: N calls of bump() (two thread-local read-modify-writes each), timed inside
   the program so process start and linking are not part of the figure. Prints ns per call. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
extern _Thread_local unsigned long tls_counter;
void bump(unsigned long by);
unsigned long total(void);
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000000;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) { bump((unsigned long)i); tls_counter += 1; }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n;
  printf("%.3f ns/call (checksum %lu)\n", ns, total());
  return 0;
}
