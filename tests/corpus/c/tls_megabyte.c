/* One MiB of thread-locals (half initialized, half zero-fill), used by several threads at once:
   beyond glibc's default static TLS reserve, so the JIT must arrange more. */
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#define HALF (512 * 1024)
_Thread_local unsigned char seeded[HALF] __attribute__((aligned(64))) = { 7, 11, 13 };
_Thread_local unsigned char blank[HALF];
static uintptr_t seen[4];
static unsigned long digest(long id) {
  unsigned long h = 1469598103934665603ul;
  for (long i = 0; i < HALF; i += 97) { seeded[i] += (unsigned char)id; blank[i] ^= (unsigned char)(i + id); }
  for (long i = 0; i < HALF; i += 97) h = (h ^ seeded[i] ^ ((unsigned long)blank[i] << 8)) * 1099511628211ul;
  return h;
}
static void *work(void *arg) {
  long id = (long)arg;
  seen[id] = (uintptr_t)seeded;
  return (void *)(uintptr_t)digest(id);
}
int main(void) {
  pthread_t t[3]; void *r[3];
  for (long i = 0; i < 3; i++) pthread_create(&t[i], 0, work, (void *)(i + 1));
  for (int i = 0; i < 3; i++) pthread_join(t[i], &r[i]);
  seen[0] = (uintptr_t)seeded;
  for (int i = 0; i < 3; i++) printf("thread %d digest %lx\n", i + 1, (unsigned long)(uintptr_t)r[i]);
  int distinct = seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2];
  printf("main digest %lx seeded=%d,%d,%d aligned=%d distinct=%d\n", digest(0), seeded[0], seeded[1], seeded[2],
         (int)(seen[0] % 64 == 0), distinct);
  return 0;
}
