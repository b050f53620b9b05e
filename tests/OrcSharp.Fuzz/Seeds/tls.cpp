// Seed: C++ thread_local with dynamic initialization (TLS wrappers and guards in COMDAT groups).
#include <cstdio>
#include <string>
#include <thread>

struct Tracker { std::string name; int hits = 0; explicit Tracker(const char* n) : name(n) {} };
thread_local Tracker tracker("main");
inline thread_local int inline_tls = 3;

int main()
{
    tracker.hits++;
    std::thread t([] { tracker.hits += 10; inline_tls += 1; });
    t.join();
    std::printf("%s %d %d\n", tracker.name.c_str(), tracker.hits, inline_tls);
    return 0;
}
