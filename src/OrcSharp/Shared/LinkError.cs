namespace OrcSharp.Shared;

/// <summary>
/// A user-facing failure (bad input, unresolved symbol, dead executor ...): the <see cref="OrcSharpException"/>
/// the linker throws where no more specific type applies, and the base of the specific ones. The message
/// is one line that names what is wrong and where (file, section, offset, symbol); the CLI prints it as
/// "orcsharp: error: MESSAGE" and exits 1.
/// </summary>
public class LinkError : OrcSharpException
{
    /// <summary>An error with a one-line message (escaped).</summary>
    public LinkError(string message) : base(message) { }
    /// <summary>An error with a one-line message (escaped) caused by <paramref name="inner"/>.</summary>
    public LinkError(string message, Exception inner) : base(message, inner) { }
}
