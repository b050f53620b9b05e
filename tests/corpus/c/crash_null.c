/* A program that dies of a signal (a store through a null pointer) after writing to both streams: the
   run must end as the native one does, with the same status, stdout's unflushed buffer lost and the
   stderr line kept. */
#include <stdio.h>

int *volatile nowhere;

int main(void)
{
    printf("buffered in stdout, lost with the process\n");
    fprintf(stderr, "written to stderr before the crash\n");
    *nowhere = 42;
    return 0;
}
