using System.Net;
using System.Net.Sockets;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// Where an executor listens or a controller connects: "unix:PATH" (a Unix socket) or "HOST:PORT" (TCP;
/// "[::1]:PORT" for IPv6, ":PORT" or a bare "PORT" for loopback).
/// </summary>
public sealed record ExecutorEndpoint(string? Host, int Port, string? UnixPath)
{
    const string UnixPrefix = "unix:";

    public bool IsUnix => UnixPath is not null;

    public override string ToString() => IsUnix ? UnixPrefix + UnixPath : Host!.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public static ExecutorEndpoint Parse(string text)
    {
        if (text.StartsWith(UnixPrefix, StringComparison.Ordinal))
        {
            string path = text[UnixPrefix.Length..];
            if (path.Length == 0) throw new LinkError($"bad executor address '{text}' (expected unix:PATH)");
            return new ExecutorEndpoint(null, 0, path);
        }
        int colon = text.LastIndexOf(':');
        string host = colon < 0 ? "" : text[..colon];
        string port = colon < 0 ? text : text[(colon + 1)..];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        if (!int.TryParse(port, out int p) || p is < 0 or > 65535 || host.Contains(' '))
            throw new LinkError($"bad executor address '{text}' (expected HOST:PORT or unix:PATH)");
        return new ExecutorEndpoint(host.Length == 0 ? "127.0.0.1" : host, p, null);
    }

    /// <summary>The address to listen on: an IP address (or localhost). Anything but loopback needs
    /// <paramref name="allowRemote"/>, since whoever reaches the port can ask the executor to run code.</summary>
    public EndPoint ListenEndPoint(bool allowRemote)
    {
        if (UnixPath is { } path) return new UnixDomainSocketEndPoint(path);
        IPAddress ip = Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(Host, out var parsed) ? parsed
            : throw new LinkError($"bad listen address '{this}' (expected an IP address, localhost or unix:PATH)");
        if (!IPAddress.IsLoopback(ip) && !allowRemote)
            throw new LinkError($"listening on {this} would let other machines run code in this executor; listen on 127.0.0.1 or add --allow-remote");
        return new IPEndPoint(ip, Port);
    }

    /// <summary>Small messages go out at once, and a peer host that vanishes (no FIN, no RST) is noticed
    /// within about 25 s even while a program runs for hours and no call has a time limit.</summary>
    internal static void ConfigureTcp(Socket socket)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 10);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 5);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
    }
}
