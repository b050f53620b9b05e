/* Function multiversioning: gcc's and clang's target_clones make an indirect function (STT_GNU_IFUNC)
   whose resolver picks a clone for this CPU. Calls, pointers in data and pointers taken at run time
   must all agree on one address. (AArch64 compilers of this vintage have no target_clones: the same
   program uses an explicit ifunc there.) */
#include <stdio.h>

#if defined(__x86_64__)
__attribute__((target_clones("avx2", "sse4.2", "default"))) int scale(int x) { return x * 3; }
__attribute__((target_clones("avx2", "default"))) long sum(const int *v, int n)
{
  long s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return s;
}
#else
static int scale_plain(int x) { return x * 3; }
static long sum_plain(const int *v, int n)
{
  long s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return s;
}
static void *pick_scale(void) { return (void *)scale_plain; }
static void *pick_sum(void) { return (void *)sum_plain; }
int scale(int x) __attribute__((ifunc("pick_scale")));
long sum(const int *v, int n) __attribute__((ifunc("pick_sum")));
#endif

int (*const scale_in_data)(int) = scale;
long (*const sum_in_data)(const int *, int) = sum;

int main(void)
{
  int values[100];
  for (int i = 0; i < 100; i++) values[i] = scale(i);
  int (*volatile taken)(int) = scale;
  printf("scale: %d %d %d\n", scale(14), scale_in_data(5), taken(-2));
  printf("sum: %ld %ld\n", sum(values, 100), sum_in_data(values, 10));
  printf("one address: %d %d\n", taken == scale_in_data && scale_in_data == scale, sum_in_data == sum);
  return 0;
}
