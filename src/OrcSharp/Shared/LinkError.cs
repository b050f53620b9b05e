namespace OrcSharp.Shared;

/// <summary>
/// A user-facing failure (bad input, unresolved symbol, dead executor ...). The message is one line that
/// names what is wrong and where (file, section, offset, symbol); the CLI prints it as
/// "orcsharp: error: MESSAGE" and exits 1. Anything else that escapes is a bug in OrcSharp.
/// </summary>
public class LinkError : Exception
{
    public LinkError(string message) : base(message) { }
    public LinkError(string message, Exception inner) : base(message, inner) { }
}
