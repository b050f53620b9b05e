namespace OrcSharp.Checker;

/// <summary>One failed check: where it is, what it says, and why it failed.</summary>
public sealed record CheckFailure(string File, int Line, string Expression, string Message)
{
    public override string ToString() => $"{File}:{Line}: {Message}: {Expression}";
}

/// <summary>
/// Runs the checks of a file: every line that starts with "# NAME:" (NAME is jitlink-check unless
/// -check-name says otherwise) holds an expression; a line ending in '\' continues on the next.
/// A file passes when it has at least one check and every check holds.
/// </summary>
public static class CheckFile
{
    public static (int Count, List<CheckFailure> Failures) Run(string path, string text, string checkName, ILinkView link)
    {
        string prefix = "# " + checkName + ":";
        var failures = new List<CheckFailure>();
        int count = 0, startLine = 0;
        var expr = new System.Text.StringBuilder();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r').TrimStart();
            if (!line.StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (expr.Length == 0) startLine = i + 1;
            expr.Append(line, prefix.Length, line.Length - prefix.Length);
            if (expr.Length > 0 && expr[^1] == '\\') { expr.Length--; continue; }
            count++;
            // Continuation lines leave runs of spaces: one is enough in messages.
            string check = System.Text.RegularExpressions.Regex.Replace(expr.ToString().Trim(), @"\s+", " ");
            expr.Clear();
            try
            {
                var (left, right) = new CheckExpression(link).Evaluate(check);
                if (left != right) failures.Add(new CheckFailure(path, startLine, check, $"check failed: 0x{left:x} != 0x{right:x}"));
            }
            catch (CheckError e)
            {
                failures.Add(new CheckFailure(path, startLine, check, $"cannot evaluate check ({e.Message})"));
            }
        }
        return (count, failures);
    }
}
