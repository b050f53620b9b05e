// A D program on the D runtime from Debian's static libgphobos.a: module constructors and destructors,
// exceptions through several frames, garbage collection that must find roots in the image's data,
// bss and thread-locals (the runtime learns them from dl_iterate_phdr), and a thread of its own.
import core.memory : GC;
import core.thread : Thread;
import std.algorithm : map, sum;
import std.array : array;
import std.conv : to;
import std.format : format;
import std.stdio : writeln, stderr;

final class Node
{
    int[] values;
    Node next;
    this(int seed, Node next = null) { values = new int[](64); foreach (i, ref v; values) v = seed + cast(int) i; this.next = next; }
    bool intact(int seed) const { foreach (i, v; values) if (v != seed + cast(int) i) return false; return true; }
}

Node tlsRoot;             // thread-local: a root only the PT_TLS block holds
__gshared Node dataRoot;  // data segment
__gshared Node[4] bssRoots;
string[string] registry;

static this() { registry = ["module": "ctor"]; writeln("thread ctor"); }
static ~this() { writeln("thread dtor"); }
shared static this() { writeln("shared ctor"); }
shared static ~this() { writeln("shared dtor"); }

class ParseError : Exception
{
    int where;
    this(string msg, int where) { super(msg); this.where = where; }
}

int parseDigit(char c, int where)
{
    if (c < '0' || c > '9') throw new ParseError(format("bad digit '%s'", c), where);
    return c - '0';
}

int parse(string s)
{
    int total;
    foreach (i, c; s)
    {
        scope (failure) writeln("  unwinding through parse at ", i);
        total = total * 10 + parseDigit(c, cast(int) i);
    }
    return total;
}

void churn()
{
    // Garbage of the same size as the roots' arrays, so freed memory would be reused at once.
    foreach (round; 0 .. 50) { auto junk = new Node(-1000 * round); junk = null; }
    GC.collect();
}

void main()
{
    writeln(parse("12345"));
    try parse("12x45");
    catch (ParseError e) writeln("caught ", e.msg, " at ", e.where);
    try { throw new Exception("plain"); }
    catch (Exception e) writeln("caught ", e.msg);
    finally writeln("finally ran");

    tlsRoot = new Node(1, new Node(2));
    dataRoot = new Node(3);
    foreach (i, ref r; bssRoots) r = new Node(10 + cast(int) i);
    churn();
    writeln("roots intact: tls ", tlsRoot.intact(1) && tlsRoot.next.intact(2), ", data ", dataRoot.intact(3),
            ", bss ", bssRoots[3].intact(13));

    int fromThread;
    auto t = new Thread({
        tlsRoot = new Node(20);
        churn();
        try parse("9z");
        catch (ParseError e) fromThread = e.where * 100 + (tlsRoot.intact(20) ? 1 : 0);
    });
    t.start();
    t.join();
    writeln("thread result ", fromThread, ", main tls still ", tlsRoot.intact(1));
    writeln([1, 2, 3, 4].map!(x => x * x).array, " sum ", [1, 2, 3, 4].map!(x => x * 10).sum, " ", registry["module"]);
    auto stats = GC.stats;
    writeln("gc in use: ", stats.usedSize > 0);
    stderr.writeln("to stderr");
}
