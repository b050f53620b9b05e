using System.Text;

namespace OrcSharp.Shared;

/// <summary>
/// Text that came from an input file (symbol, section and archive member names) made safe for the one
/// error line: control characters, line and paragraph separators and bidirectional overrides are written
/// as escapes (\n, \r, \t, \xNN, \uNNNN), so a name cannot split, hide or reorder the line. Backslashes
/// are left alone, which keeps escaping idempotent (an escaped message escapes to itself).
/// </summary>
public static class PrintableText
{
    public static string Escape(string text)
    {
        int first = 0;
        while (first < text.Length && !NeedsEscape(text[first])) first++;
        if (first == text.Length) return text;
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (!NeedsEscape(c)) { sb.Append(c); continue; }
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x100) sb.Append("\\x").Append(((int)c).ToString("x2"));
                    else sb.Append("\\u").Append(((int)c).ToString("x4"));
                    break;
            }
        }
        return sb.ToString();
    }

    static bool NeedsEscape(char c) =>
        c < 0x20 || c is >= '\u007f' and <= '\u009f'       // C0, DEL, C1 controls
        || c is '\u2028' or '\u2029'                          // line and paragraph separators
        || c is >= '\u202a' and <= '\u202e' || c is >= '\u2066' and <= '\u2069' // bidi embeddings, overrides, isolates
        || c is '\u200e' or '\u200f' or '\u061c' or '\ufeff'; // direction marks, byte-order mark
}
