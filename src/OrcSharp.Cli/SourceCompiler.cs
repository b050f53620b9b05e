using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>
/// Compiles C/C++ sources given as inputs with $CC/$CXX (default cc/c++) and $CFLAGS/$CXXFLAGS, into a
/// cache keyed by compiler, flags, language, path and content; an entry is reused only while every
/// header it depended on (from the compiler's depfile) is older than the object. A source read from a
/// pipe ("-", /dev/stdin, a process substitution) is compiled from a copy in the cache, with the current
/// directory searched for its quoted includes, as gcc does for "-x c -".
/// </summary>
public static class SourceCompiler
{
    static readonly string[] CExt = { ".c" };
    static readonly string[] CxxExt = { ".cc", ".cpp", ".cxx", ".c++", ".C" };

    public static bool IsSource(string path) => IsC(path) || IsCxx(path);
    static bool IsC(string path) => CExt.Contains(Path.GetExtension(path), StringComparer.Ordinal);
    public static bool IsCxx(string path) => CxxExt.Contains(Path.GetExtension(path), StringComparer.Ordinal);

    /// <summary>Compiles for the host, or with the Debian cross compiler (aarch64-linux-gnu-gcc) for a
    /// cross target; $CC / $CXX win either way. <paramref name="language"/> ("c" or "c++", from -x)
    /// overrides the file name's extension.</summary>
    public static string Compile(string source, string? crossPrefix = null, string? language = null)
    {
        bool cxx = language is not null ? language == "c++" : IsCxx(source);
        var input = InputFile.Read(source);
        string compiler = Environment.GetEnvironmentVariable(cxx ? "CXX" : "CC") is { Length: > 0 } c ? c
            : crossPrefix is not null ? crossPrefix + (cxx ? "g++" : "gcc") : cxx ? "c++" : "cc";
        string flags = Environment.GetEnvironmentVariable(cxx ? "CXXFLAGS" : "CFLAGS") ?? "";
        string full = input.IsStream ? "<stream>" : Path.GetFullPath(source);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{compiler}\0{flags}\0{language}\0{full}\0{(input.IsStream ? Environment.CurrentDirectory : "")}\0"));
        hash.AppendData(input.Bytes.Span);
        string key = Convert.ToHexString(hash.GetHashAndReset())[..32].ToLowerInvariant();

        string dir = Path.Combine(CacheRoot(), "objects");
        Directory.CreateDirectory(dir);
        string obj = Path.Combine(dir, key + ".o"), dep = Path.Combine(dir, key + ".d");
        if (File.Exists(obj) && File.Exists(dep) && DepsOlderThan(dep, File.GetLastWriteTimeUtc(obj))) return obj;

        string tmp = Path.Combine(dir, $"{key}.{Environment.ProcessId}.tmp");
        string compileFrom = full;
        if (input.IsStream)
        {
            compileFrom = Path.Combine(dir, key + (cxx ? ".cc" : ".c"));
            File.WriteAllBytes(compileFrom, input.Bytes.ToArray());
        }
        var psi = new ProcessStartInfo(compiler) { UseShellExecute = false };
        foreach (var f in flags.Split(' ', StringSplitOptions.RemoveEmptyEntries)) psi.ArgumentList.Add(f);
        if (input.IsStream) { psi.ArgumentList.Add("-iquote"); psi.ArgumentList.Add(Environment.CurrentDirectory); }
        if (language is not null) { psi.ArgumentList.Add("-x"); psi.ArgumentList.Add(language); }
        foreach (var a in new[] { "-c", compileFrom, "-o", tmp + ".o", "-MD", "-MF", tmp + ".d" }) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new LinkError($"cannot run compiler '{compiler}': {e.Message}"); }
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            File.Delete(tmp + ".o"); File.Delete(tmp + ".d");
            throw new LinkError($"{source}: compilation with '{compiler}' failed (exit status {p.ExitCode})");
        }
        File.Move(tmp + ".d", dep, true);
        File.Move(tmp + ".o", obj, true);
        return obj;
    }

    static string CacheRoot() =>
        Environment.GetEnvironmentVariable("ORCSHARP_CACHE") is { Length: > 0 } c ? c
        : Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? Path.Combine(x, "orcsharp")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "orcsharp");

    /// <summary>Reads a make-style depfile ("obj: a.c b.h \") and checks each prerequisite's mtime.</summary>
    static bool DepsOlderThan(string depFile, DateTime objTime)
    {
        string text = File.ReadAllText(depFile).Replace("\\\n", " ");
        int colon = text.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0) return false;
        foreach (var dep in text[(colon + 2)..].Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries))
            if (!File.Exists(dep) || File.GetLastWriteTimeUtc(dep) > objTime) return false;
        return true;
    }
}
