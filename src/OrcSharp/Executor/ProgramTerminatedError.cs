using OrcSharp.Shared;

namespace OrcSharp.Executor;

/// <summary>The program being run ended its executor by a signal (it crashed, or was killed). The message
/// is the usual one line; <see cref="Signal"/> lets the caller end the same way the program did.</summary>
public sealed class ProgramTerminatedError(string message, int signal) : LinkError(message)
{
    public int Signal { get; } = signal;
}
