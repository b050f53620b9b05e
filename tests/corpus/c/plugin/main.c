/* Global scope: a library the program opens with dlopen binds to the program's definitions (the
   native oracle is linked with -rdynamic), and dlsym(RTLD_DEFAULT / NULL) finds them. The runner
   builds plugin/ into plugin.so and passes its path in CORPUS_PLUGIN. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int host_counter = 41;
const char host_greeting[] = "hello from the host";
double host_table[4] = {0.5, 1.5, 2.5, 3.5};
__attribute__((visibility("hidden"))) int host_hidden = 5;
static int host_static = 6;

int host_add(int a, int b) { return a + b; }
__attribute__((weak)) int host_weak(void) { return 7; }

static const char *yes(int c) { return c ? "yes" : "no"; }

int main(void)
{
    const char *path = getenv("CORPUS_PLUGIN");
    if (!path) { puts("CORPUS_PLUGIN is not set"); return 2; }
    void *h = dlopen(path, RTLD_NOW);
    if (!h) { printf("dlopen failed: %s\n", dlerror()); return 1; }
    printf("after the plugin's constructor: host_counter = %d\n", host_counter);
    int (*run)(int) = (int (*)(int))dlsym(h, "plugin_run");
    const char *(*greeting)(void) = (const char *(*)(void))dlsym(h, "plugin_greeting");
    double (*sum)(void) = (double (*)(void))dlsym(h, "plugin_table_sum");
    int (*weak)(void) = (int (*)(void))dlsym(h, "plugin_weak");
    if (!run || !greeting || !sum || !weak) { puts("plugin symbols missing"); return 1; }
    printf("plugin_run(1) = %d, host_counter = %d\n", run(1), host_counter);
    printf("plugin_greeting() = %s (the host's array: %s)\n", greeting(), yes(greeting() == host_greeting));
    printf("plugin_table_sum() = %.1f\n", sum());
    printf("plugin_weak() = %d\n", weak());

    printf("dlsym(RTLD_DEFAULT, \"host_add\") is host_add: %s\n", yes(dlsym(RTLD_DEFAULT, "host_add") == (void *)host_add));
    printf("dlsym(NULL, \"host_counter\") is &host_counter: %s\n", yes(dlsym(NULL, "host_counter") == (void *)&host_counter));
    printf("dlsym(RTLD_DEFAULT, \"host_table\") is host_table: %s\n", yes(dlsym(RTLD_DEFAULT, "host_table") == (void *)host_table));
    printf("dlsym(RTLD_DEFAULT, \"host_hidden\") found: %s\n", yes(dlsym(RTLD_DEFAULT, "host_hidden") != NULL));
    printf("dlsym(RTLD_DEFAULT, \"host_static\") found: %s\n", yes(dlsym(RTLD_DEFAULT, "host_static") != NULL));
    printf("dlsym(RTLD_DEFAULT, \"plugin_run\") found: %s\n", yes(dlsym(RTLD_DEFAULT, "plugin_run") != NULL));
    printf("host_hidden + host_static = %d\n", host_hidden + host_static);
    dlclose(h);
    return 0;
}
