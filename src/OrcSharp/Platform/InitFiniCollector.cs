using System.Buffers.Binary;
using OrcSharp.JitLink;
using OrcSharp.Shared;

namespace OrcSharp.Platform;

/// <summary>
/// Collects initializers and finalizers in the order a native link gives them (GNU ld's default script):
/// .preinit_array; then .init_array.N and .ctors.N sorted by priority (a .ctors.N entry has priority
/// 65535-N), then plain .init_array and .ctors in input order; .fini_array/.dtors likewise, run backwards.
/// Legacy .ctors/.dtors sections hold their entries in reverse order.
/// </summary>
public sealed class InitFiniCollector : ILinkPlugin
{
    readonly List<(Block Block, bool Reversed)> _init = new(), _fini = new();
    public List<ExecutorAddr> Initializers { get; } = new();
    /// <summary>In the order exit must call them.</summary>
    public List<ExecutorAddr> Finalizers { get; } = new();

    public void PrePrune(LinkGraph graph)
    {
        var pre = new List<(Block, bool)>();
        var init = new List<(int Priority, int Order, Block Block, bool Reversed)>();
        var fini = new List<(int Priority, int Order, Block Block, bool Reversed)>();
        int order = 0;
        foreach (var section in graph.Sections)
        {
            string n = section.Name;
            if (n == ".preinit_array") { foreach (var b in section.Blocks) { b.KeepAlive = true; pre.Add((b, false)); } continue; }
            var (list, priority, reversed) = Classify(n, init, fini);
            if (list is null) continue;
            // Nothing refers to an initializer array: the platform runs it, so dead-stripping keeps it.
            foreach (var b in section.Blocks) { b.KeepAlive = true; list.Add((priority, order++, b, reversed)); }
        }
        _init.AddRange(pre);
        // By priority, then input order (Order is unique, so the sort needs no stability).
        init.Sort((a, b) => a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : a.Order.CompareTo(b.Order));
        fini.Sort((a, b) => a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : a.Order.CompareTo(b.Order));
        foreach (var e in init) _init.Add((e.Block, e.Reversed));
        foreach (var e in fini) _fini.Add((e.Block, e.Reversed));
    }

    static (List<(int, int, Block, bool)>? List, int Priority, bool Reversed) Classify(string name,
        List<(int, int, Block, bool)> init, List<(int, int, Block, bool)> fini)
    {
        const int Unsuffixed = int.MaxValue;
        if (name == ".init_array") return (init, Unsuffixed, false);
        if (name == ".ctors") return (init, Unsuffixed, true);
        if (name == ".fini_array") return (fini, Unsuffixed, false);
        if (name == ".dtors") return (fini, Unsuffixed, true);
        if (TryPriority(name, ".init_array.", out int p)) return (init, p, false);
        if (TryPriority(name, ".ctors.", out p)) return (init, 65535 - p, true);
        if (TryPriority(name, ".fini_array.", out p)) return (fini, p, false);
        if (TryPriority(name, ".dtors.", out p)) return (fini, 65535 - p, true);
        return (null, 0, false);
    }

    static bool TryPriority(string name, string prefix, out int priority)
    {
        priority = 0;
        return name.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(name.AsSpan(prefix.Length), out priority);
    }

    public void PostFixup(LinkGraph graph, Func<Block, ReadOnlyMemory<byte>> content)
    {
        var fini = new List<ExecutorAddr>();
        Read(_init, Initializers, content);
        Read(_fini, fini, content);
        fini.Reverse(); // the fini array runs from its end to its start
        Finalizers.AddRange(fini);
    }

    static void Read(List<(Block Block, bool Reversed)> blocks, List<ExecutorAddr> into, Func<Block, ReadOnlyMemory<byte>> content)
    {
        foreach (var (block, reversed) in blocks)
        {
            var bytes = content(block).Span;
            var entries = new List<ExecutorAddr>();
            for (int off = 0; off + 8 <= bytes.Length; off += 8)
            {
                ulong v = BinaryPrimitives.ReadUInt64LittleEndian(bytes[off..]);
                if (v != 0 && v != ulong.MaxValue) entries.Add(new ExecutorAddr(v));
            }
            if (reversed) entries.Reverse();
            into.AddRange(entries);
        }
    }
}
