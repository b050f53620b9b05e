namespace OrcSharp;

/// <summary>
/// The base of every failure OrcSharp reports to its user (bad input, an undefined or duplicate symbol,
/// a lost executor ...). The message is one line naming what is wrong and where; names taken from inputs
/// may hold any byte, so the message is escaped here, once (<see cref="Shared.PrintableText"/>). The
/// derived types carry the names and inputs as properties. Anything else that escapes is a bug.
/// </summary>
/// <remarks>Declared in the <c>OrcSharp</c> namespace (with the other exceptions a user catches) although
/// it lives beside the executor-side code in <c>Shared</c>, which both sides of the wire use.</remarks>
public class OrcSharpException : Exception
{
    /// <summary>An error with a one-line message (escaped).</summary>
    public OrcSharpException(string message) : base(Shared.PrintableText.Escape(message)) { }
    /// <summary>An error with a one-line message (escaped) caused by <paramref name="inner"/>.</summary>
    public OrcSharpException(string message, Exception inner) : base(Shared.PrintableText.Escape(message), inner) { }
}

/// <summary>A link needs a symbol that nothing defines: no earlier link of the JITDylib, no JITDylib of its
/// link order, no host symbol and no shared library (or a lookup asked for a name nothing defines).</summary>
public sealed class UndefinedSymbolException : Shared.LinkError
{
    /// <summary>An undefined symbol, referenced by <paramref name="referencedBy"/> (null for a lookup).</summary>
    public UndefinedSymbolException(string symbolName, string? referencedBy, IReadOnlyList<string> otherSymbols, string message) : base(message)
    {
        SymbolName = symbolName;
        ReferencedBy = referencedBy;
        OtherSymbols = otherSymbols;
    }

    /// <summary>The (first) name nothing defines.</summary>
    public string SymbolName { get; }
    /// <summary>The input that refers to it ("a.o", "libfoo.a(bar.o)"); null when a lookup asked for it.</summary>
    public string? ReferencedBy { get; }
    /// <summary>The other names of the same link that nothing defines (may be empty).</summary>
    public IReadOnlyList<string> OtherSymbols { get; }
}

/// <summary>Two inputs give the same name a strong definition: in one link, or in two units of one
/// JITDylib (replacing a unit is explicit: <see cref="Orc.JITDylib.Replace"/>).</summary>
public sealed class DuplicateSymbolException(string symbolName, string? firstInput, string? secondInput, string message)
    : Shared.LinkError(message)
{
    /// <summary>The name defined twice.</summary>
    public string SymbolName { get; } = symbolName;
    /// <summary>The input of the definition already there.</summary>
    public string? FirstInput { get; } = firstInput;
    /// <summary>The input of the new definition.</summary>
    public string? SecondInput { get; } = secondInput;
}

/// <summary>An input is not a valid relocatable object for this target (truncated, malformed, another
/// machine, an unsupported feature); the message names the input, section and offset.</summary>
public sealed class BadObjectFileException(string inputName, string message, Exception? inner = null)
    : Shared.LinkError(message, inner!)
{
    /// <summary>The input's name ("a.o", "libfoo.a(bar.o)").</summary>
    public string InputName { get; } = inputName;
}

/// <summary>The executor is gone (its process ended or was killed, the connection broke, it stopped
/// answering or broke the protocol): this call and every later one fail.</summary>
public sealed class ExecutorLostException(string reason) : Shared.LinkError($"executor {reason}")
{
    /// <summary>Why it is gone ("closed the connection", "was killed by signal 9 (SIGKILL)" ...).</summary>
    public string Reason { get; } = reason;
}
