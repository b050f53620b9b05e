using System.Buffers.Binary;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>SimpleRemoteEPC message kinds, numbered as LLVM's SimpleRemoteEPCOpcode.</summary>
public enum SimpleRemoteOpcode : ulong { Setup = 0, Hangup = 1, Result = 2, CallWrapper = 3 }

/// <summary>One message: opcode, sequence number (pairs a Result with its CallWrapper), tag address
/// (the wrapper function a CallWrapper calls) and the SPS-encoded argument or result bytes.</summary>
public readonly record struct SimpleRemoteMessage(SimpleRemoteOpcode Opcode, ulong SeqNo, ExecutorAddr TagAddr, byte[] Payload);

/// <summary>
/// Framing over any pair of byte streams, as LLVM's FD transport frames SimpleRemoteEPC: a 32-byte
/// header of four little-endian uint64 (total message size, opcode, sequence number, tag address) then
/// the payload. Sends are atomic per message (callers on many threads); one reader receives.
/// Oversized, truncated or unknown messages are errors, never allocations of a hostile size: a payload
/// buffer grows with the bytes that actually arrive, so a header that promises a gigabyte costs nothing.
/// </summary>
public sealed class SimpleRemoteTransport : IDisposable
{
    public const int HeaderSize = 32;
    /// <summary>Default for the largest message accepted (a finalize carries every segment's bytes).</summary>
    public const ulong DefaultMaxMessageSize = 1UL << 30;
    /// <summary>The payload buffer starts at most this big and doubles as bytes arrive.</summary>
    const int InitialPayloadBuffer = 1 << 20;

    readonly Stream _in, _out;
    readonly object _writeLock = new();
    readonly byte[] _header = new byte[HeaderSize];
    public long BytesSent, BytesReceived;

    public SimpleRemoteTransport(Stream input, Stream output) { _in = input; _out = output; }

    /// <summary>Largest message <see cref="Receive"/> accepts, header included; larger is a malformed message.</summary>
    public ulong MaxMessageSize { get; set; } = DefaultMaxMessageSize;

    public void Send(SimpleRemoteOpcode opcode, ulong seqNo, ExecutorAddr tag, ReadOnlySpan<byte> payload)
    {
        var msg = new byte[HeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(msg, (ulong)msg.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(msg.AsSpan(8), (ulong)opcode);
        BinaryPrimitives.WriteUInt64LittleEndian(msg.AsSpan(16), seqNo);
        BinaryPrimitives.WriteUInt64LittleEndian(msg.AsSpan(24), tag.Value);
        payload.CopyTo(msg.AsSpan(HeaderSize));
        lock (_writeLock)
        {
            _out.Write(msg);
            _out.Flush();
            BytesSent += msg.Length;
        }
    }

    /// <summary>Sends Hangup with its SPSError payload, as LLVM's peers expect: success, or why the
    /// connection ends.</summary>
    public void SendHangup(string? error) => Send(SimpleRemoteOpcode.Hangup, 0, default, new SpsWriter().Error(error).WrittenSpan);

    /// <summary>The error a Hangup carries, or null (none, or a payload that is not an SPSError).</summary>
    public static string? HangupError(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty) return null;
        try { return new SpsReader(payload).Error(); }
        catch (LinkError) { return null; }
    }

    /// <summary>The next message, or null at a clean end of stream (between messages). Throws
    /// <see cref="LinkError"/> for a malformed header or a stream that ends inside a message.</summary>
    public SimpleRemoteMessage? Receive()
    {
        if (!ReadExactly(_header, allowEof: true)) return null;
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(_header);
        ulong opcode = BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(8));
        if (size < HeaderSize) throw new LinkError($"malformed message: size {size} is smaller than the header");
        if (size > MaxMessageSize) throw new LinkError($"malformed message: size {size} exceeds the limit of {MaxMessageSize} bytes");
        if (opcode > (ulong)SimpleRemoteOpcode.CallWrapper) throw new LinkError($"malformed message: unknown opcode {opcode}");
        var payload = ReadPayload((int)(size - HeaderSize));
        Interlocked.Add(ref BytesReceived, (long)size);
        return new SimpleRemoteMessage((SimpleRemoteOpcode)opcode, BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(16)),
            new ExecutorAddr(BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(24))), payload);
    }

    /// <summary>Reads <paramref name="length"/> bytes into a buffer that grows as they arrive.</summary>
    byte[] ReadPayload(int length)
    {
        var buf = new byte[Math.Min(length, InitialPayloadBuffer)];
        int got = 0;
        while (got < length)
        {
            if (got == buf.Length) Array.Resize(ref buf, (int)Math.Min((long)length, 2L * buf.Length));
            int n = _in.Read(buf, got, buf.Length - got);
            if (n == 0) throw new LinkError("connection closed inside a message");
            got += n;
        }
        return buf;
    }

    bool ReadExactly(Span<byte> buf, bool allowEof)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int n = _in.Read(buf[got..]);
            if (n == 0)
            {
                if (got == 0 && allowEof) return false;
                throw new LinkError("connection closed inside a message");
            }
            got += n;
        }
        return true;
    }

    public void Dispose()
    {
        try { _out.Dispose(); } catch (IOException) { }
        try { _in.Dispose(); } catch (IOException) { }
    }
}

/// <summary>What the executor announces in its Setup message (LLVM's SimpleRemoteEPCExecutorInfo):
/// target triple, page size, a bootstrap map of named values, and its bootstrap symbols.</summary>
public sealed record ExecutorSetupInfo(string TargetTriple, ulong PageSize,
    IReadOnlyDictionary<string, byte[]> BootstrapMap, IReadOnlyDictionary<string, ExecutorAddr> BootstrapSymbols)
{
    public byte[] Encode()
    {
        var w = new SpsWriter(1024).String(TargetTriple).U64(PageSize).U64((ulong)BootstrapMap.Count);
        foreach (var (k, v) in BootstrapMap) w.String(k).Bytes(v);
        w.U64((ulong)BootstrapSymbols.Count);
        foreach (var (k, v) in BootstrapSymbols) w.String(k).Addr(v);
        return w.ToArray();
    }

    public static ExecutorSetupInfo Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new SpsReader(bytes);
        string triple = r.String();
        ulong pageSize = r.U64();
        var map = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int n = r.Count(16), i = 0; i < n; i++) map[r.String()] = r.Bytes().ToArray();
        var syms = new Dictionary<string, ExecutorAddr>(StringComparer.Ordinal);
        for (int n = r.Count(16), i = 0; i < n; i++) syms[r.String()] = r.Addr();
        return new ExecutorSetupInfo(triple, pageSize, map, syms);
    }
}
