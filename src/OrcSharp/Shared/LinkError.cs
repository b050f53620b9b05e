namespace OrcSharp.Shared;

/// <summary>
/// A user-facing failure (bad input, unresolved symbol, dead executor ...). The message is one line that
/// names what is wrong and where (file, section, offset, symbol); the CLI prints it as
/// "orcsharp: error: MESSAGE" and exits 1. Anything else that escapes is a bug in OrcSharp.
/// Names taken from inputs may hold any byte: the message is escaped here, once, so it stays one line
/// (<see cref="PrintableText"/>).
/// </summary>
public class LinkError : Exception
{
    public LinkError(string message) : base(PrintableText.Escape(message)) { }
    public LinkError(string message, Exception inner) : base(PrintableText.Escape(message), inner) { }
}
