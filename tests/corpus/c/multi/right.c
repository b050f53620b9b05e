extern int shared_counter;
int left(int);
static int local(void) { return 2; }
int right(int x) { shared_counter += 2; return x > 0 ? left(x - 1) + local() : 0; }
