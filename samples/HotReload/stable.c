/* The stable entry point: callers keep its address; the implementation behind it can be swapped. */
static long (*impl)(long);

long compute(long x) { return impl ? impl(x) : -1; }

void set_impl(long (*f)(long)) { impl = f; }
