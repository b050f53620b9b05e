/* Defined by the C# host: a function ([UnmanagedCallersOnly]) and a counter in native memory. */
extern int host_scale(int x);
extern int host_counter;

int compute(int x) {
  host_counter++;
  return host_scale(x) + 1;
}
