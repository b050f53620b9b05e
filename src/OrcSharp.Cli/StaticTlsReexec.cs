using System.Runtime.InteropServices;
using OrcSharp.JitLink;

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
        if (IsRestarted) return;
        string[] argv;
        try { argv = File.ReadAllText("/proc/self/cmdline").Split('\0', StringSplitOptions.None)[..^1]; }
        catch (IOException) { return; }
        ulong reserve = StaticTlsExhaustedError.RecommendedReserve(error.RequiredBytes);
        string tunable = $"glibc.rtld.optional_static_tls={reserve}";
        var env = new List<string>();
        bool merged = false;
        foreach (System.Collections.DictionaryEntry kv in Environment.GetEnvironmentVariables())
        {
            string k = (string)kv.Key, v = (string?)kv.Value ?? "";
            if (k == "GLIBC_TUNABLES") { v = v.Length > 0 ? v + ":" + tunable : tunable; merged = true; }
            env.Add($"{k}={v}");
        }
        if (!merged) env.Add("GLIBC_TUNABLES=" + tunable);
        env.Add($"{Marker}={reserve}");
        Console.Out.Flush();
        Console.Error.Flush();
        var argvPtrs = ToCStrings(argv);
        var envPtrs = ToCStrings(env);
        fixed (nint* a = argvPtrs) fixed (nint* e = envPtrs) execve("/proc/self/exe", a, e);
        // Only reached if exec failed: the caller reports the original error.
    }

    static nint[] ToCStrings(IReadOnlyList<string> items)
    {
        var p = new nint[items.Count + 1];
        for (int i = 0; i < items.Count; i++) p[i] = Marshal.StringToCoTaskMemUTF8(items[i]);
        return p;
    }
}
