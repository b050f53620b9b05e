// Exceptions thrown and caught in code placed after objects whose COMDAT copies (and so FDEs) were
// discarded. Each discarded FDE shrinks its object's .eh_frame; if the next object's .eh_frame started
// at an 8-byte boundary the gap read as a terminator and the unwinder never saw the FDEs after it
// (issue 11, item 4: Boost.Regex's throws were not caught even by catch (...)).
#include <cstdio>
#include "shared.h"
int first(int);
int second(int);
int third(int);

__attribute__((noinline)) static int risky(int x)
{
    try { return second(x); }
    catch (const std::invalid_argument& e) { std::printf("caught in risky: %s\n", e.what()); return -1; }
}

int main()
{
    std::printf("%d %d %d\n", first(3), second(4), third(5));
    std::printf("%d\n", risky(-5));
    try { first(-2); }
    catch (...) { std::printf("caught in main\n"); }
    try { checked_twice(-7); }
    catch (const std::exception& e) { std::printf("caught directly: %s\n", e.what()); }
    return 0;
}
