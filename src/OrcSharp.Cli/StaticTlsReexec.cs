using System.Runtime.InteropServices;
using OrcSharp.JitLink;
using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>
/// glibc sizes its static TLS reserve once, at process start (GLIBC_TUNABLES glibc.rtld.optional_static_tls).
/// When a program's thread-locals do not fit the default reserve, the command restarts itself, before
/// anything JIT'd has run, with a reserve that fits; only such programs pay for the restart.
/// </summary>
static unsafe partial class StaticTlsReexec
{
    const string Marker = "ORCSHARP_STATIC_TLS_RESERVE";

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int execve(string path, nint* argv, nint* envp);

    /// <summary>Whether this process is the restarted one (and so has the large reserve).</summary>
    public static bool IsRestarted => Environment.GetEnvironmentVariable(Marker) is not null;

    /// <summary>Restarts the process with enough reserve; returns only if that is not possible (already
    /// restarted, or exec failed), and the caller then reports the error.</summary>
    public static void RestartWithReserve(StaticTlsExhaustedError error)
    {
        // Input read from a pipe is gone: a restarted process could not read it again. The caller's
        // error says how to start orcsharp with the reserve instead.
        if (IsRestarted || InputFile.AnyStreamRead) return;
        string[] argv;
        try { argv = File.ReadAllText("/proc/self/cmdline").Split('\0', StringSplitOptions.None)[..^1]; }
        catch (IOException) { return; }
        ulong reserve = StaticTlsExhaustedError.RecommendedReserve(error.RequiredBytes);
        var env = NativeStrings.Environment(new Dictionary<string, string>
        {
            ["GLIBC_TUNABLES"] = StaticTlsExhaustedError.TunablesWithReserve(reserve),
            [Marker] = reserve.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        Console.Out.Flush();
        Console.Error.Flush();
        var argvPtrs = NativeStrings.ToArray(argv);
        var envPtrs = NativeStrings.ToArray(env);
        // Null-terminated arrays (NativeStrings.ToArray adds the terminator): execve reads up to it.
        fixed (nint* a = argvPtrs) fixed (nint* e = envPtrs) execve("/proc/self/exe", a, e);
        // Only reached if exec failed: the caller reports the original error.
        NativeStrings.Free(argvPtrs);
        NativeStrings.Free(envPtrs);
    }
}
