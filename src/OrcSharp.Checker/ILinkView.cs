namespace OrcSharp.Checker;

/// <summary>What the check language evaluates against: the addresses and fixed-up bytes of a link.
/// Every lookup either succeeds or throws <see cref="CheckError"/> saying what is missing.</summary>
public interface ILinkView
{
    /// <summary>Address of a named symbol (defined by the link, or absolute).</summary>
    ulong SymbolAddress(string name);
    /// <summary>The bytes from a defined symbol's address to the end of its block (instructions to decode).</summary>
    ReadOnlyMemory<byte> SymbolContent(string name);
    /// <summary>Start of section <paramref name="section"/> of input file <paramref name="file"/>.</summary>
    ulong SectionAddress(string file, string section);
    /// <summary>Address of the GOT entry for <paramref name="symbol"/> in the link of <paramref name="file"/>.</summary>
    ulong GotAddress(string file, string symbol);
    /// <summary>Address of the stub for <paramref name="symbol"/>; <paramref name="kind"/> optionally names
    /// the kind of stub (a regular expression, as in LLVM 19).</summary>
    ulong StubAddress(string file, string symbol, string? kind);
    /// <summary>Little-endian value of <paramref name="size"/> bytes (1 to 8) of fixed-up memory.</summary>
    ulong Read(ulong address, int size);
    IInstructionDecoder Decoder { get; }
}

/// <summary>A check that cannot be evaluated: unknown symbol, bad syntax, undecodable instruction.</summary>
public sealed class CheckError(string message) : Exception(message);
