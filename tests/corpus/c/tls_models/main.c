#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
extern _Thread_local int *counter_ref;
extern _Thread_local const char *message;
extern _Thread_local long wide[3];
extern _Thread_local char flags[5];
int *hidden_addr(void);
int bump_hidden(int by);
static _Thread_local int local_only = 9;
static void report(const char *who, long id) {
  wide[0] += id; wide[2] *= id + 1; flags[id % 5] = 1; local_only += (int)id;
  int set = 0;
  for (int i = 0; i < 5; i++) set += flags[i];
  printf("%s: ref=%d msg=%s wide=%ld,%ld,%ld set=%d local=%d hidden=%d aligned=%d\n", who, *counter_ref, message,
         wide[0], wide[1], wide[2], set, local_only, bump_hidden((int)id), (int)((uintptr_t)wide % 64 == 0));
}
static void *work(void *arg) {
  long id = (long)arg;
  char name[16];
  snprintf(name, sizeof name, "thread %ld", id);
  report(name, id);
  return (void *)(uintptr_t)(hidden_addr() != 0);
}
int main(void) {
  for (long i = 1; i <= 3; i++) {
    pthread_t t; void *r;
    pthread_create(&t, 0, work, (void *)i);
    pthread_join(t, &r);
  }
  report("main", 0);
  return 0;
}
