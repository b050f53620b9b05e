using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// HMAC-SHA256 (RFC 2104 over FIPS 180-4) and random nonces from the kernel, in managed code. .NET's own
/// implementations call OpenSSL on Linux, which the cross executor's sysroot does not have (an AArch64
/// executor under qemu-user aborted at start-up with "No usable version of libssl was found"), and the
/// handshake needs nothing else from a crypto library. Tests compare it with .NET's HMACSHA256.
/// </summary>
public static partial class HmacSha256
{
    public const int Size = 32;
    const int BlockSize = 64;

    static ReadOnlySpan<uint> K =>
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// <summary>HMAC-SHA256 of <paramref name="message"/> under <paramref name="key"/>.</summary>
    public static byte[] Compute(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message)
    {
        Span<byte> k = stackalloc byte[BlockSize];
        k.Clear();
        if (key.Length > BlockSize) Hash(key, k);
        else key.CopyTo(k);
        Span<byte> pad = stackalloc byte[BlockSize];
        for (int i = 0; i < BlockSize; i++) pad[i] = (byte)(k[i] ^ 0x36);
        var inner = new byte[BlockSize + message.Length];
        pad.CopyTo(inner);
        message.CopyTo(inner.AsSpan(BlockSize));
        Span<byte> innerHash = stackalloc byte[Size];
        Hash(inner, innerHash);
        Span<byte> outer = stackalloc byte[BlockSize + Size];
        for (int i = 0; i < BlockSize; i++) outer[i] = (byte)(k[i] ^ 0x5c);
        innerHash.CopyTo(outer[BlockSize..]);
        var mac = new byte[Size];
        Hash(outer, mac);
        return mac;
    }

    /// <summary>SHA-256 of <paramref name="data"/> into the 32 bytes of <paramref name="digest"/>.</summary>
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> digest)
    {
        Span<uint> h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
        int full = data.Length / BlockSize * BlockSize;
        for (int off = 0; off < full; off += BlockSize) Compress(h, data.Slice(off, BlockSize));
        // The tail, 0x80, zeros, and the length in bits (big-endian) fill one or two last blocks.
        Span<byte> tail = stackalloc byte[2 * BlockSize];
        tail.Clear();
        int rest = data.Length - full;
        data[full..].CopyTo(tail);
        tail[rest] = 0x80;
        int tailLength = rest + 9 <= BlockSize ? BlockSize : 2 * BlockSize;
        BinaryPrimitives.WriteUInt64BigEndian(tail[(tailLength - 8)..], (ulong)data.Length * 8);
        for (int off = 0; off < tailLength; off += BlockSize) Compress(h, tail.Slice(off, BlockSize));
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteUInt32BigEndian(digest[(4 * i)..], h[i]);
    }

    static void Compress(Span<uint> h, ReadOnlySpan<byte> block)
    {
        Span<uint> w = stackalloc uint[64];
        for (int t = 0; t < 16; t++) w[t] = BinaryPrimitives.ReadUInt32BigEndian(block[(4 * t)..]);
        for (int t = 16; t < 64; t++)
        {
            uint s0 = BitOperations.RotateRight(w[t - 15], 7) ^ BitOperations.RotateRight(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint s1 = BitOperations.RotateRight(w[t - 2], 17) ^ BitOperations.RotateRight(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int t = 0; t < 64; t++)
        {
            uint t1 = hh + (BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25))
                + ((e & f) ^ (~e & g)) + K[t] + w[t];
            uint t2 = (BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22))
                + ((a & b) ^ (a & c) ^ (b & c));
            hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }

    /// <summary><paramref name="count"/> random bytes from the kernel (getrandom(2), blocking until its
    /// pool is initialized, which it is long before anyone connects).</summary>
    public static unsafe byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        fixed (byte* p = bytes)
            for (int got = 0; got < count;)
            {
                nint n = getrandom(p + got, (nuint)(count - got), 0);
                if (n <= 0)
                {
                    if (Marshal.GetLastPInvokeError() == 4) continue; // EINTR
                    throw new InvalidOperationException($"getrandom failed: {Marshal.GetLastPInvokeErrorMessage()}");
                }
                got += (int)n;
            }
        return bytes;
    }

    [LibraryImport("libc.so.6", SetLastError = true)] private static unsafe partial nint getrandom(byte* buffer, nuint length, uint flags);
}
