using System.Security.Cryptography;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// The secret an executor and its controllers share to authenticate TCP connections: the text of a token
/// file (or of ORCSHARP_EXECUTOR_TOKEN), surrounding white space removed, used as an HMAC-SHA256 key.
/// </summary>
public sealed class ExecutorToken
{
    public const string EnvironmentVariable = "ORCSHARP_EXECUTOR_TOKEN";
    const int MinLength = 16;
    const UnixFileMode OthersMayAccess = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    readonly byte[] _key;
    ExecutorToken(byte[] key) => _key = key;

    /// <summary>A token from its text; <paramref name="origin"/> names where it came from in errors.</summary>
    public static ExecutorToken FromText(string text, string origin)
    {
        string t = text.Trim();
        if (t.Length < MinLength) throw new LinkError($"the executor token in {origin} is shorter than {MinLength} characters");
        return new ExecutorToken(Encoding.UTF8.GetBytes(t));
    }

    /// <summary>Reads a token file, which only its owner may read (as ssh insists for private keys).</summary>
    public static ExecutorToken ReadFile(string path)
    {
        try
        {
            if ((File.GetUnixFileMode(path) & OthersMayAccess) != 0)
                throw new LinkError($"token file {path} is accessible to other users (chmod 600 {path})");
            return FromText(File.ReadAllText(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LinkError($"cannot read token file {path}: {e.Message}");
        }
    }

    /// <summary>The token of ORCSHARP_EXECUTOR_TOKEN, or null when it is not set.</summary>
    public static ExecutorToken? FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } t ? FromText(t, EnvironmentVariable) : null;

    /// <summary>A new random token, written to a file only this user can read, in a new private (0700)
    /// directory under the temporary directory. Returns the token and the file's path.</summary>
    public static (ExecutorToken Token, string Path) Generate()
    {
        string text = Convert.ToHexStringLower(HmacSha256.RandomBytes(32));
        try
        {
            string dir = Directory.CreateTempSubdirectory("orcsharp-executor-").FullName;
            string path = System.IO.Path.Combine(dir, "token");
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            using (var f = new StreamWriter(path, Encoding.ASCII, options)) f.WriteLine(text);
            return (new ExecutorToken(Encoding.UTF8.GetBytes(text)), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LinkError($"cannot write a token file: {e.Message}");
        }
    }

    internal byte[] Mac(ReadOnlySpan<byte> role, ReadOnlySpan<byte> executorNonce, ReadOnlySpan<byte> controllerNonce)
    {
        var message = new byte[role.Length + executorNonce.Length + controllerNonce.Length];
        role.CopyTo(message);
        executorNonce.CopyTo(message.AsSpan(role.Length));
        controllerNonce.CopyTo(message.AsSpan(role.Length + executorNonce.Length));
        return HmacSha256.Compute(_key, message);
    }
}

/// <summary>
/// The authentication handshake of a TCP connection, in SimpleRemoteEPC's own messages:
/// <list type="number">
/// <item>The executor's Setup carries a fresh random nonce in its bootstrap map (<see cref="NonceKey"/>) and
/// one bootstrap symbol, <see cref="BootstrapName"/>, and nothing else: no address of the executor is
/// given to a peer before it has authenticated.</item>
/// <item>The controller's first message is a CallWrapper to that tag whose argument is (controller nonce,
/// HMAC(token, "controller" + executor nonce + controller nonce)).</item>
/// <item>The executor answers with a Result holding HMAC(token, "executor" + both nonces), proving it knows
/// the token too, and the full Setup (bootstrap map and symbols). Anything else, a wrong MAC or silence
/// closes the connection before any wrapper function runs.</item>
/// </list>
/// A recorded answer is useless on another connection, whose nonce differs.
/// </summary>
public static class ExecutorAuthentication
{
    /// <summary>Bootstrap-map key of the executor's nonce (SPS: bytes).</summary>
    public const string NonceKey = "orcsharp.auth.hmac-sha256";
    /// <summary>The handshake's pseudo wrapper function; its tag is not an address of the executor.</summary>
    public const string BootstrapName = "orcsharp_authenticate";
    public static readonly ExecutorAddr Tag = new(1);
    public const int NonceSize = 32;
    static ReadOnlySpan<byte> ControllerRole => "orcsharp-auth-v1 controller\0"u8;
    static ReadOnlySpan<byte> ExecutorRole => "orcsharp-auth-v1 executor\0"u8;

    public static byte[] NewNonce() => HmacSha256.RandomBytes(NonceSize);

    /// <summary>The controller's answer to an executor nonce; <paramref name="controllerNonce"/> is kept to
    /// check the executor's proof.</summary>
    public static byte[] Answer(ExecutorToken token, ReadOnlySpan<byte> executorNonce, out byte[] controllerNonce)
    {
        controllerNonce = NewNonce();
        return new SpsWriter(96).Bytes(controllerNonce).Bytes(token.Mac(ControllerRole, executorNonce, controllerNonce)).ToArray();
    }

    /// <summary>Checks a controller's answer; returns the executor's proof, or null if the answer is wrong.</summary>
    public static byte[]? Verify(ExecutorToken token, ReadOnlySpan<byte> executorNonce, ReadOnlySpan<byte> answer)
    {
        try
        {
            var r = new SpsReader(answer);
            var controllerNonce = r.Bytes();
            var mac = r.Bytes();
            if (controllerNonce.Length != NonceSize || r.Remaining != 0) return null;
            if (!CryptographicOperations.FixedTimeEquals(mac, token.Mac(ControllerRole, executorNonce, controllerNonce))) return null;
            return token.Mac(ExecutorRole, executorNonce, controllerNonce);
        }
        catch (LinkError) { return null; }
    }

    /// <summary>Whether the executor's proof shows it knows the token.</summary>
    public static bool CheckProof(ExecutorToken token, ReadOnlySpan<byte> executorNonce, ReadOnlySpan<byte> controllerNonce, ReadOnlySpan<byte> proof) =>
        CryptographicOperations.FixedTimeEquals(proof, token.Mac(ExecutorRole, executorNonce, controllerNonce));
}
