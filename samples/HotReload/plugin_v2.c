long plugin_compute(long x) { return x * 100; }
