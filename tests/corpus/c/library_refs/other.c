#include <stdio.h>
#include <string.h>

int (*const puts_elsewhere)(const char *) = puts;
size_t (*const strlen_elsewhere)(const char *) = strlen;

int compare_ints(const void *a, const void *b)
{
  return *(const int *)a - *(const int *)b;
}
