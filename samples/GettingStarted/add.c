#include <stdio.h>

int add(int a, int b) { return a + b; }

int main(int argc, char **argv) {
  printf("hello, %s\n", argc > 1 ? argv[1] : "nobody");
  return 7;
}
