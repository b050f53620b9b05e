/* Function-pointer tables in data, pointers to data in data, a jump table, string literals. */
#include <stdio.h>
#include <string.h>
static int inc(int x) { return x + 1; }
static int dbl(int x) { return x * 2; }
static int neg(int x) { return -x; }
struct op { const char *name; int (*fn)(int); };
static const struct op ops[] = { { "inc", inc }, { "dbl", dbl }, { "neg", neg } };
static int values[4] = { 3, 1, 4, 1 };
int *const value_ptrs[] = { &values[0], &values[1], &values[2], &values[3] };
const char *words[] = { "zero", "one", "two", "three", "four", "five" };
static const char *name_of(int v) {
  switch (v) { case 0: return "zero"; case 1: return "one"; case 2: return "two"; case 3: return "three";
    case 4: return "four"; case 5: return "five"; case 6: return "six"; default: return "many"; }
}
int main(void) {
  int acc = 5;
  for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) { acc = ops[i].fn(acc); printf("%s -> %d\n", ops[i].name, acc); }
  int sum = 0; for (int i = 0; i < 4; i++) sum += *value_ptrs[i];
  printf("sum %d, %s %s %s\n", sum, name_of(sum % 7), words[sum % 6], name_of(42));
  printf("strlen via pointer %zu\n", ((size_t (*)(const char *))strlen)("pointer"));
  return 0;
}
