using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Orc.Libraries;

/// <summary>One input named by a linker script: a path, or a library name from "-lNAME".</summary>
public readonly record struct LdScriptEntry(string PathOrLib, bool IsLibName, bool AsNeeded);

/// <summary>
/// The part of GNU ld's script language that library stubs use (Debian's libc.so and libm.so):
/// GROUP, INPUT and nested AS_NEEDED lists, -lNAME entries, SEARCH_DIR, OUTPUT_FORMAT (ignored), comments.
/// </summary>
public static class LdScript
{
    public static bool LooksLikeLdScript(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0 || bytes.StartsWith("\u007fELF"u8) || bytes.StartsWith("!<arch>"u8)) return false;
        var head = bytes[..Math.Min(bytes.Length, 4096)];
        foreach (byte b in head) if (b == 0 || (b < 0x20 && b is not (9 or 10 or 13))) return false;
        string text = Encoding.ASCII.GetString(head);
        return text.Contains("GROUP", StringComparison.Ordinal) || text.Contains("INPUT", StringComparison.Ordinal) ||
               text.Contains("OUTPUT_FORMAT", StringComparison.Ordinal) || text.TrimStart().StartsWith("/*", StringComparison.Ordinal);
    }

    public static (List<LdScriptEntry> Entries, List<string> SearchDirs) Parse(string path, string text)
    {
        var tokens = Tokenize(path, text);
        var entries = new List<LdScriptEntry>();
        var dirs = new List<string>();
        int i = 0;
        while (i < tokens.Count)
        {
            string cmd = tokens[i++];
            if (i >= tokens.Count || tokens[i] != "(") throw new LinkError($"{path}: linker script: expected '(' after {cmd}");
            i++;
            switch (cmd)
            {
                case "GROUP" or "INPUT": i = ParseList(path, tokens, i, entries, asNeeded: false, depth: 0); break;
                case "SEARCH_DIR": dirs.Add(Expect(path, tokens, ref i)); Close(path, tokens, ref i); break;
                case "OUTPUT_FORMAT" or "OUTPUT_ARCH" or "TARGET":
                    while (i < tokens.Count && tokens[i] != ")") i++;
                    Close(path, tokens, ref i);
                    break;
                default: throw new LinkError($"{path}: linker script command {cmd} is not supported");
            }
        }
        return (entries, dirs);
    }

    /// <summary>How deep AS_NEEDED lists may nest (GNU ld's stubs use one level; the bound keeps a
    /// hostile script from exhausting the stack).</summary>
    const int MaxNesting = 8;

    /// <summary>Largest linker script read (Debian's stubs are a few hundred bytes).</summary>
    public const int MaxScriptBytes = 1 << 20;

    static int ParseList(string path, List<string> t, int i, List<LdScriptEntry> into, bool asNeeded, int depth)
    {
        while (true)
        {
            if (i >= t.Count) throw new LinkError($"{path}: linker script: unterminated list");
            string tok = t[i++];
            if (tok == ")") return i;
            if (tok == ",") continue;
            if (tok == "AS_NEEDED")
            {
                if (i >= t.Count || t[i] != "(") throw new LinkError($"{path}: linker script: expected '(' after AS_NEEDED");
                if (depth >= MaxNesting) throw new LinkError($"{path}: linker script: AS_NEEDED lists nest more than {MaxNesting} deep");
                i = ParseList(path, t, i + 1, into, asNeeded: true, depth + 1);
                continue;
            }
            if (tok == "(") throw new LinkError($"{path}: linker script: unexpected '('");
            into.Add(tok.StartsWith("-l", StringComparison.Ordinal) ? new LdScriptEntry(tok[2..], true, asNeeded) : new LdScriptEntry(tok, false, asNeeded));
        }
    }

    static string Expect(string path, List<string> t, ref int i)
    {
        if (i >= t.Count || t[i] is "(" or ")") throw new LinkError($"{path}: linker script: expected a name");
        return t[i++];
    }

    static void Close(string path, List<string> t, ref int i)
    {
        if (i >= t.Count || t[i] != ")") throw new LinkError($"{path}: linker script: expected ')'");
        i++;
    }

    static List<string> Tokenize(string path, string s)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '*')
            {
                int end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (end < 0) throw new LinkError($"{path}: linker script: unterminated comment");
                i = end + 2;
                continue;
            }
            if (c is '(' or ')' or ',') { tokens.Add(c.ToString()); i++; continue; }
            if (c == '"')
            {
                int end = s.IndexOf('"', i + 1);
                if (end < 0) throw new LinkError($"{path}: linker script: unterminated string");
                tokens.Add(s[(i + 1)..end]);
                i = end + 1;
                continue;
            }
            int start = i;
            while (i < s.Length && !char.IsWhiteSpace(s[i]) && s[i] is not ('(' or ')' or ',' or '"')) i++;
            tokens.Add(s[start..i]);
        }
        return tokens;
    }
}
