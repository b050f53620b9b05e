namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// What one connection may cost an executor. Breaking a limit closes that connection, with one log line.
/// The executor announces the message and call limits in its Setup (bootstrap map, SPS uint64 each) so a
/// controller can stay within them.
/// </summary>
public sealed record ExecutorLimits
{
    public const string MaxMessageSizeKey = "orcsharp.max_message_size";
    public const string MaxCallsInFlightKey = "orcsharp.max_calls_in_flight";
    /// <summary>Largest message before authentication: the answer to the challenge is about 100 bytes.</summary>
    public const ulong HandshakeMaxMessageSize = 4096;

    /// <summary>Largest message, header included (a finalize carries every segment's bytes).</summary>
    public ulong MaxMessageSize { get; init; } = SimpleRemoteTransport.DefaultMaxMessageSize;
    /// <summary>Wrapper calls served at once (each has a thread while it runs).</summary>
    public int MaxCallsInFlight { get; init; } = 64;
    /// <summary>How long a new socket connection may take to deliver its first complete message, which is
    /// the answer to the authentication challenge when one is required. Pipes have no such limit.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Connections that may be in their handshake at once; more are closed at once.</summary>
    public int MaxPendingConnections { get; init; } = 32;
}
