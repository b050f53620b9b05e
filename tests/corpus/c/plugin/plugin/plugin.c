/* Built into plugin.so (-shared -fPIC): every reference to host_* binds to the program. */
extern int host_counter;
extern const char host_greeting[];
extern double host_table[4];
int host_add(int a, int b);
int host_weak(void);

__attribute__((constructor)) static void plugin_init(void) { host_counter += 100; }

int plugin_run(int x)
{
    host_counter++;
    return host_add(x, host_counter);
}

const char *plugin_greeting(void) { return host_greeting; }

double plugin_table_sum(void)
{
    double s = 0;
    for (int i = 0; i < 4; i++) s += host_table[i];
    return s;
}

int plugin_weak(void) { return host_weak() * 6; }
