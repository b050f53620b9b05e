namespace OrcSharp.Cli;

/// <summary>A progress line for a person at a terminal while sources compile for more than a second
/// (redirected stderr belongs to the program's output and gets nothing).</summary>
static class CompileProgress
{
    static bool _shown;

    public static Action<int, int>? ForTerminal() => Console.IsErrorRedirected ? null : Report;

    static void Report(int done, int total)
    {
        lock (typeof(CompileProgress))
        {
            _shown = true;
            Console.Error.Write($"\rorcsharp: compiling {total} source{(total == 1 ? "" : "s")}: {done}/{total} done");
        }
    }

    /// <summary>Erases the line, if one was shown, before the program writes anything.</summary>
    public static void Clear()
    {
        if (_shown) Console.Error.Write("\r\u001b[K");
        _shown = false;
    }
}
