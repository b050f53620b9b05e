using OrcSharp.JitLink;
using OrcSharp.Shared;

namespace OrcSharp.Checker;

/// <summary>The check language's view of finished links: their symbols (global and local, as the
/// objects named them), absolute definitions, sections by input file, GOT entries and stubs, and the
/// fixed-up bytes of every block.</summary>
public sealed class SnapshotView : ILinkView
{
    readonly IReadOnlyList<LinkSnapshot> _links;
    readonly Dictionary<string, Symbol> _symbols = new(StringComparer.Ordinal);
    readonly Dictionary<string, ulong> _absolutes = new(StringComparer.Ordinal);

    public SnapshotView(IReadOnlyList<LinkSnapshot> links, IEnumerable<(string Name, ExecutorAddr Address)> absolutes, TargetArch arch)
    {
        _links = links;
        foreach (var (name, addr) in absolutes) _absolutes[name] = addr.Value;
        foreach (var link in links)
            foreach (var s in link.Graph.LocalSymbols.Concat(link.Graph.DefinedSymbols))
                if (s.Name is { Length: > 0 } n) _symbols[n] = s;
        Decoder = arch == TargetArch.AArch64 ? new AArch64InstructionDecoder() : new X86InstructionDecoder();
    }

    public IInstructionDecoder Decoder { get; }

    public ulong SymbolAddress(string name)
    {
        if (_symbols.TryGetValue(name, out var s)) return s.Address.Value;
        if (_absolutes.TryGetValue(name, out ulong a)) return a;
        throw new CheckError($"no known address for symbol '{name}'");
    }

    public ReadOnlyMemory<byte> SymbolContent(string name)
    {
        if (!_symbols.TryGetValue(name, out var s) || s.Block is not { } b)
            throw new CheckError(_absolutes.ContainsKey(name) ? $"symbol '{name}' is absolute: it has no instructions" : $"no known address for symbol '{name}'");
        var content = _links.Select(l => l.Content(b)).FirstOrDefault(c => !c.IsEmpty);
        return content.IsEmpty ? content : content[(int)Math.Min(s.Offset, (ulong)content.Length)..];
    }

    LinkSnapshot LinkOf(string file) =>
        _links.FirstOrDefault(l => l.Files.Contains(file)) ?? throw new CheckError($"file \"{file}\" is not an input of the link");

    public ulong SectionAddress(string file, string section) =>
        LinkOf(file).SectionRange(file, section) is var (start, _) ? start.Value
            : throw new CheckError($"no section \"{section}\" for file \"{file}\"");

    public ulong GotAddress(string file, string symbol) =>
        LinkOf(file).GotEntries.TryGetValue(symbol, out var e) ? e.Address.Value
            : throw new CheckError($"no GOT entry for \"{symbol}\" in the link of \"{file}\"");

    public ulong StubAddress(string file, string symbol, string? kind)
    {
        if (!LinkOf(file).Stubs.TryGetValue(symbol, out var e))
            throw new CheckError($"no stub for \"{symbol}\" in the link of \"{file}\"");
        // Every ELF stub of x86-64 and AArch64 is of one kind, which LLVM reports as unnamed.
        if (!string.IsNullOrEmpty(kind) && !System.Text.RegularExpressions.Regex.IsMatch("", kind))
            throw new CheckError($"the stub for \"{symbol}\" is not of kind \"{kind}\"");
        return e.Address.Value;
    }

    public ulong Read(ulong address, int size)
    {
        Span<byte> buf = stackalloc byte[8];
        buf.Clear();
        foreach (var link in _links)
            if (link.TryRead(new ExecutorAddr(address), buf[..size]))
                return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(buf);
        throw new CheckError($"address 0x{address:x} ({size} bytes) is not in the link's memory");
    }
}
