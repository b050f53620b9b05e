// Seed: exceptions, templates and inline functions (COMDAT groups), virtual classes, static init.
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct Shape { virtual ~Shape() = default; virtual double area() const = 0; };
struct Square : Shape { double s; explicit Square(double v) : s(v) {} double area() const override { return s * s; } };
template <typename T> struct Box : Shape { T v; explicit Box(T x) : v(x) {} double area() const override { return double(v); } };

template <typename T> T checked(T v) { if (v < T(0)) throw std::out_of_range("negative " + std::to_string(v)); return v; }

static std::map<std::string, int> registry = { { "alpha", 1 }, { "beta", 2 } };

int main()
{
    std::vector<std::unique_ptr<Shape>> shapes;
    shapes.push_back(std::make_unique<Square>(3));
    shapes.push_back(std::make_unique<Box<int>>(4));
    double total = 0;
    for (auto& s : shapes) total += s->area();
    try { checked(-2); }
    catch (const std::exception& e) { std::printf("caught %s\n", e.what()); }
    try { throw 42; }
    catch (int v) { std::printf("int %d\n", v); }
    std::printf("%.1f %d\n", total, registry["beta"]);
    return 0;
}
