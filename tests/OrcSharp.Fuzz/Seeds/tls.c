/* Seed: thread-locals (initialized and zero-filled), extern TLS across translation units, threads. */
#include <pthread.h>
#include <stdio.h>

_Thread_local int tls_counter = 5;
_Thread_local char tls_buffer[128];
static _Thread_local long tls_local = 9;
extern _Thread_local int tls_elsewhere __attribute__((weak));

static void *worker(void *arg)
{
    tls_counter += (int)(long)arg;
    tls_buffer[3] = 'x';
    return (void *)(long)(tls_counter + tls_local);
}

int main(void)
{
    pthread_t t;
    void *r;
    pthread_create(&t, 0, worker, (void *)4);
    pthread_join(t, &r);
    printf("%d %ld %d %d\n", tls_counter, (long)r, tls_buffer[3], &tls_elsewhere ? tls_elsewhere : -1);
    return 0;
}
