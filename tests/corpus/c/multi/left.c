int shared_counter = 10;
int right(int);
static int local(void) { return 1; }
int left(int x) { shared_counter++; return x > 0 ? right(x - 1) + local() : 0; }
