/* Seed: data, strings, a jump table, function pointers, stdio. */
#include <stdio.h>
#include <string.h>

static const char *names[] = { "zero", "one", "two", "three", "four", "five" };
int counter = 3;
static int hidden_total;
__attribute__((visibility("hidden"))) int hidden_value = 11;

static int square(int x) { return x * x; }
int (*volatile op)(int) = square;

const char *classify(int n)
{
    switch (n) {
    case 0: return "none";
    case 1: return "single";
    case 2: return "pair";
    case 3: return "triple";
    case 7: return "lucky";
    case 9: return "many";
    default: return "other";
    }
}

int main(int argc, char **argv)
{
    char buf[64];
    for (int i = 0; i < 6; i++) hidden_total += op(i);
    snprintf(buf, sizeof buf, "%s-%d", names[counter % 6], hidden_total);
    printf("%s %s %zu %d\n", buf, classify(argc + 6), strlen(argv[0]) > 0 ? (size_t)1 : (size_t)0, hidden_value);
    fprintf(stdout, "%s\n", classify(counter));
    return 0;
}
