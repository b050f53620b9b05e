/* The traditional path's second half: load a shared object built by `ld -shared` and find its main,
   as a host would before calling it. */
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  return dlsym(h, "main") ? 0 : 1;
}
