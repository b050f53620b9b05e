// Inline functions that every object emits as its own COMDAT copy (noinline keeps them out of line).
// The first object's copies are kept, later objects' copies are discarded with their FDEs. The cold
// helper goes to .text.unlikely.* (gcc and clang at -O2), as Boost.Regex's throw paths do.
#include <stdexcept>
#include <string>

__attribute__((cold, noinline)) inline void raise_negative(int x)
{
    throw std::invalid_argument("negative: " + std::to_string(x));
}

__attribute__((noinline)) inline int checked_twice(int x)
{
    if (__builtin_expect(x < 0, 0)) raise_negative(x);
    return 2 * x;
}

__attribute__((noinline)) inline int plain_thrice(int x) { return 3 * x; }
