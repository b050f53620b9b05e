using System.Security.Cryptography;
using System.Text;
using OrcSharp.Executor.SimpleRemote;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>The handshake's own HMAC-SHA256 agrees with .NET's (OpenSSL's) for every length around the
/// block boundaries and with RFC 4231's published vector; nonces differ.</summary>
public class HmacSha256Tests
{
    [Fact]
    public void AgreesWithTheSystemImplementationAtEveryLengthAroundTheBlocks()
    {
        var rng = new Random(7);
        foreach (int keyLength in new[] { 0, 1, 32, 63, 64, 65, 200 })
            for (int length = 0; length <= 200; length++)
            {
                var key = new byte[keyLength];
                var message = new byte[length];
                rng.NextBytes(key);
                rng.NextBytes(message);
                Assert.Equal(HMACSHA256.HashData(key, message), HmacSha256.Compute(key, message));
                var digest = new byte[32];
                HmacSha256.Hash(message, digest);
                Assert.Equal(SHA256.HashData(message), digest);
            }
    }

    [Fact]
    public void MatchesRfc4231TestCase2()
    {
        var mac = HmacSha256.Compute("Jefe"u8, Encoding.ASCII.GetBytes("what do ya want for nothing?"));
        Assert.Equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", Convert.ToHexStringLower(mac));
    }

    [Fact]
    public void NoncesAreFreshRandomBytes()
    {
        var a = HmacSha256.RandomBytes(32);
        var b = HmacSha256.RandomBytes(32);
        Assert.Equal(32, a.Length);
        Assert.NotEqual(a, b);
    }
}
