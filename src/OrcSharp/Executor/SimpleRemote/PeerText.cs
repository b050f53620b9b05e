using System.Text;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>Text that came from the other end of a connection (an error, a triple), made fit for one line
/// of ours: control characters escaped, and cut to a sane length.</summary>
public static class PeerText
{
    public const int DefaultMaxLength = 400;

    public static string OneLine(string text, int maxLength = DefaultMaxLength)
    {
        var sb = new StringBuilder(Math.Min(text.Length, maxLength) + 32);
        int i = 0;
        for (; i < text.Length && sb.Length < maxLength; i++)
        {
            char c = text[i];
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c) || c is '\u2028' or '\u2029') sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        if (i < text.Length) sb.Append($"... ({text.Length - i} more characters)");
        return sb.ToString();
    }
}
