using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>
/// Global symbol resolution for one link unit, applying the system linker's rules: a definition replaces
/// an undefined reference; strong beats weak; common symbols merge (largest size and alignment) and lose
/// to a real definition; two strong definitions are an error naming both inputs.
/// </summary>
public sealed class SymbolTable
{
    readonly Dictionary<string, Symbol> _symbols = new(StringComparer.Ordinal);
    /// <summary>Common symbols: their zero-fill blocks grow to the largest size and alignment seen.</summary>
    readonly HashSet<Symbol> _commons = new(ReferenceEqualityComparer.Instance);

    public int Count => _symbols.Count;
    public IEnumerable<Symbol> Symbols => _symbols.Values;
    public bool TryGet(string name, out Symbol symbol) => _symbols.TryGetValue(name, out symbol!);
    public Symbol? Find(string name) => _symbols.GetValueOrDefault(name);

    public bool IsCommon(Symbol s) => _commons.Contains(s);

    /// <summary>Records a reference to <paramref name="name"/>; a strong reference upgrades a weak one.</summary>
    public void AddReference(string name, Linkage linkage, string origin)
    {
        if (_symbols.TryGetValue(name, out var cur))
        {
            if (!cur.IsDefined && linkage == Linkage.Strong) cur.Linkage = Linkage.Strong;
            return;
        }
        _symbols.Add(name, Symbol.External(name, linkage, origin));
    }

    public void AddCommon(Symbol common)
    {
        string name = common.Name!;
        if (_symbols.TryGetValue(name, out var cur) && cur.IsDefined)
        {
            if (_commons.Contains(cur))
            {
                var b = cur.Block!;
                b.Size = Math.Max(b.Size, common.Block!.Size);
                b.Alignment = Math.Max(b.Alignment, common.Block.Alignment);
                cur.Size = b.Size;
                return;
            }
            if (cur.Linkage == Linkage.Strong) return; // a real definition beats a tentative one
        }
        _symbols[name] = common;
        _commons.Add(common);
    }

    public void AddDefinition(Symbol def)
    {
        string name = def.Name!;
        if (!_symbols.TryGetValue(name, out var cur) || !cur.IsDefined)
        {
            _symbols[name] = def;
            return;
        }
        if (_commons.Contains(cur))
        {
            if (def.Linkage == Linkage.Strong) { _commons.Remove(cur); _symbols[name] = def; }
            return;
        }
        if (cur.Linkage == Linkage.Weak && def.Linkage == Linkage.Strong) { _symbols[name] = def; return; }
        if (cur.Linkage == Linkage.Strong && def.Linkage == Linkage.Strong)
            throw new DuplicateSymbolException(name, cur.Origin, def.Origin, $"duplicate symbol '{name}': defined in {cur.Origin} and in {def.Origin}");
    }

    /// <summary>Defines a linker-synthesized symbol (GOT base, __start_/__stop_, __dso_handle).</summary>
    public void DefineSynthetic(Symbol def) => _symbols[def.Name!] = def;

    /// <summary>Names that are referenced strongly and defined nowhere yet (weak references do not pull
    /// archive members, as with GNU ld).</summary>
    public List<string> StrongUndefinedNames()
    {
        var list = new List<string>();
        foreach (var (name, s) in _symbols)
            if (!s.IsDefined && s.Kind == SymbolKind.External && s.Linkage == Linkage.Strong) list.Add(name);
        return list;
    }

    public List<Symbol> Undefined()
    {
        var list = new List<Symbol>();
        foreach (var s in _symbols.Values) if (s.Kind == SymbolKind.External) list.Add(s);
        return list;
    }
}
