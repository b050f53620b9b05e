using System.Globalization;

namespace OrcSharp.Checker;

/// <summary>
/// The expression language of `# jitlink-check:` lines (LLVM's RuntimeDyldChecker):
/// <code>
/// check    = expr ('=' | '==') expr
/// expr     = simple (binop simple)*            left to right, no precedence: + - &amp; | &lt;&lt; &gt;&gt;
/// simple   = ( '*{' N '}' expr                 load N bytes (1..8); the address extends to the right
///            | '(' expr ')'
///            | decode_operand '(' label ['+' N] ',' N ')'    operand N of the instruction at label
///            | next_pc '(' label ')'           address after the instruction at label
///            | section_addr '(' file ',' section ')'
///            | got_addr '(' file ',' symbol ')'
///            | stub_addr '(' file ',' symbol [',' kind] ')'
///            | symbol | number ) ['[' hi ':' lo ']']        bit slice, shifted down to bit 0
/// </code>
/// Numbers are decimal or 0x-hexadecimal; values are 64-bit unsigned and wrap.
/// </summary>
public sealed class CheckExpression
{
    readonly ILinkView _link;
    string _s = "";
    int _pos;

    public CheckExpression(ILinkView link) => _link = link;

    /// <summary>Evaluates both sides of a check; throws <see cref="CheckError"/> when it cannot.</summary>
    public (ulong Left, ulong Right) Evaluate(string check)
    {
        int eq = check.IndexOf('=');
        if (eq < 0) throw new CheckError("expected 'left = right'");
        int rhs = eq + 1 < check.Length && check[eq + 1] == '=' ? eq + 2 : eq + 1;
        return (Whole(check[..eq]), Whole(check[rhs..]));
    }

    ulong Whole(string text)
    {
        _s = text;
        _pos = 0;
        ulong v = Expr();
        SkipSpace();
        if (_pos < _s.Length) throw Unexpected("end of expression");
        return v;
    }

    ulong Expr()
    {
        ulong v = Simple();
        while (true)
        {
            SkipSpace();
            if (_pos >= _s.Length) return v;
            string? op = _s.AsSpan(_pos).StartsWith("<<") ? "<<" : _s.AsSpan(_pos).StartsWith(">>") ? ">>"
                : _s[_pos] is '+' or '-' or '&' or '|' ? _s[_pos].ToString() : null;
            if (op is null) return v;
            _pos += op.Length;
            ulong r = Simple();
            v = op switch
            {
                "+" => v + r,
                "-" => v - r,
                "&" => v & r,
                "|" => v | r,
                "<<" => r >= 64 ? 0 : v << (int)r,
                _ => r >= 64 ? 0 : v >> (int)r,
            };
        }
    }

    ulong Simple()
    {
        SkipSpace();
        if (_pos >= _s.Length) throw new CheckError("unexpected end of expression");
        char c = _s[_pos];
        ulong v;
        if (c == '(') { _pos++; v = Expr(); Expect(')'); }
        else if (c == '*') v = Load();
        else if (char.IsAsciiDigit(c)) v = Number();
        else if (char.IsAsciiLetter(c) || c == '_') v = Identifier();
        else throw Unexpected("'(', '*', a name or a number");
        SkipSpace();
        if (_pos < _s.Length && _s[_pos] == '[') v = Slice(v);
        return v;
    }

    ulong Load()
    {
        _pos++;
        Expect('{');
        ulong size = Number();
        if (size is < 1 or > 8) throw new CheckError($"cannot load {size} bytes (1 to 8)");
        Expect('}');
        ulong address = Expr();
        return _link.Read(address, (int)size);
    }

    ulong Slice(ulong v)
    {
        _pos++;
        int hi = (int)Number();
        Expect(':');
        int lo = (int)Number();
        Expect(']');
        if (hi < lo || hi > 63) throw new CheckError($"bad bit slice [{hi}:{lo}]");
        int width = hi - lo + 1;
        ulong mask = width == 64 ? ulong.MaxValue : (1UL << width) - 1;
        return (v >> lo) & mask;
    }

    ulong Identifier()
    {
        string name = Name();
        SkipSpace();
        switch (name)
        {
            case "decode_operand":
            {
                Expect('(');
                string label = Name();
                SkipSpace();
                ulong offset = 0;
                if (Peek('+')) { _pos++; offset = Number(); }
                Expect(',');
                int index = (int)Number();
                Expect(')');
                var insn = DecodeAt(label, offset);
                if (index >= insn.Operands.Count)
                    throw new CheckError($"'{insn.Text}' at {label} has {insn.Operands.Count} operands, not {index + 1}");
                var op = insn.Operands[index];
                if (!op.IsImmediate) throw new CheckError($"operand {index} of '{insn.Text}' at {label} is not an immediate ({op.Text})");
                return (ulong)op.Value;
            }
            case "next_pc":
            {
                Expect('(');
                string label = Name();
                Expect(')');
                return _link.SymbolAddress(label) + (ulong)DecodeAt(label, 0).Length;
            }
            case "section_addr":
            {
                var (file, section) = (UntilComma(), UntilClose());
                return _link.SectionAddress(file, section);
            }
            case "got_addr":
            case "stub_addr":
            {
                string file = UntilComma();
                string symbol = Name();
                SkipSpace();
                string? kind = null;
                if (name == "stub_addr" && Peek(',')) kind = UntilClose().Trim();
                else Expect(')');
                return name == "got_addr" ? _link.GotAddress(file, symbol) : _link.StubAddress(file, symbol, kind);
            }
            default:
                return _link.SymbolAddress(name);
        }
    }

    DecodedInstruction DecodeAt(string label, ulong offset)
    {
        var code = _link.SymbolContent(label);
        if (offset > (ulong)code.Length) throw new CheckError($"{label} + {offset} is past the end of its block");
        return _link.Decoder.Decode(code.Span[(int)offset..], _link.SymbolAddress(label) + offset)
            ?? throw new CheckError($"cannot decode the instruction at {label}{(offset == 0 ? "" : $" + {offset}")}");
    }

    /// <summary>'(' then everything up to the next ',' (file names may hold any character).</summary>
    string UntilComma()
    {
        Expect('(');
        int comma = _s.IndexOf(',', _pos);
        if (comma < 0) throw Unexpected("','");
        string v = _s[_pos..comma].Trim();
        _pos = comma + 1;
        SkipSpace();
        return v;
    }

    /// <summary>Everything up to the next ')' (section names, stub kinds), then the ')'.</summary>
    string UntilClose()
    {
        if (Peek(',')) _pos++;
        int close = _s.IndexOf(')', _pos);
        if (close < 0) throw Unexpected("')'");
        string v = _s[_pos..close].Trim();
        _pos = close + 1;
        return v;
    }

    string Name()
    {
        SkipSpace();
        int start = _pos;
        while (_pos < _s.Length && (char.IsAsciiLetterOrDigit(_s[_pos]) || _s[_pos] is ':' or '_' or '.' or '$')) _pos++;
        if (_pos == start) throw Unexpected("a name");
        return _s[start.._pos];
    }

    ulong Number()
    {
        SkipSpace();
        int start = _pos;
        bool hex = _s.AsSpan(_pos).StartsWith("0x") || _s.AsSpan(_pos).StartsWith("0X");
        if (hex) _pos += 2;
        while (_pos < _s.Length && (hex ? char.IsAsciiHexDigit(_s[_pos]) : char.IsAsciiDigit(_s[_pos]))) _pos++;
        var digits = _s.AsSpan(hex ? start + 2 : start, _pos - (hex ? start + 2 : start));
        if (digits.IsEmpty || !ulong.TryParse(digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out ulong v))
        {
            _pos = start;
            throw Unexpected("a number");
        }
        return v;
    }

    bool Peek(char c) { SkipSpace(); return _pos < _s.Length && _s[_pos] == c; }

    void Expect(char c)
    {
        if (!Peek(c)) throw Unexpected($"'{c}'");
        _pos++;
    }

    void SkipSpace()
    {
        while (_pos < _s.Length && char.IsWhiteSpace(_s[_pos])) _pos++;
    }

    CheckError Unexpected(string expected) =>
        new(_pos >= _s.Length ? $"expected {expected} at the end of '{_s.Trim()}'" : $"expected {expected} at '{_s[_pos..].Trim()}' in '{_s.Trim()}'");
}
