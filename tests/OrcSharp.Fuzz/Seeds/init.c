/* Seed: constructors and destructors, atexit, weak and common symbols, named sections. */
#include <stdio.h>
#include <stdlib.h>

int tentative;                                   /* common with -fcommon */
__attribute__((weak)) int weak_value = 4;
__attribute__((weak)) int weak_missing(void);
__attribute__((section("my_items"))) int item_a = 1;
__attribute__((section("my_items"))) int item_b = 2;
extern int __start_my_items[], __stop_my_items[];

__attribute__((constructor(200))) static void early(void) { tentative = 10; }
__attribute__((constructor)) static void late(void) { tentative += 1; }
__attribute__((destructor)) static void bye(void) { puts("destructor"); }
static void at_exit(void) { puts("atexit"); }

int main(void)
{
    atexit(at_exit);
    int sum = 0;
    for (int *p = __start_my_items; p < __stop_my_items; p++) sum += *p;
    printf("%d %d %d %d\n", tentative, weak_value, weak_missing ? weak_missing() : -1, sum);
    return 0;
}
