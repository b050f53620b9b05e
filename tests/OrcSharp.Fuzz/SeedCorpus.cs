using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace OrcSharp.Fuzz;

/// <summary>One starting input: an object or an archive, named by how it was built.</summary>
public sealed record Seed(string Name, byte[] Bytes, bool IsArchive);

/// <summary>
/// The seeds the object target mutates, built at run time from the sources in Seeds/ with the compilers
/// of this machine: gcc and clang-14 (g++ and clang++-14 for C++) at -O0 and -O2, as PIE, -fPIC and
/// -fno-pic, plus archives of three members. Built once per source/compiler version into a cache folder.
/// </summary>
public static class SeedCorpus
{
    static readonly string[] Flags = ["-O0", "-O2", "-O2 -fPIC", "-O2 -fno-pic", "-O0 -fno-pic"];

    public static string SourceDir => Path.Combine(AppContext.BaseDirectory, "Seeds");

    /// <summary>The driver linked before a mutated archive: it references main, so members get pulled in.</summary>
    public const string DriverSource = "int main(int, char **);\nint (*volatile fuzz_keep_main)(int, char **) = main;\n";

    public static (List<Seed> Seeds, string Driver) Build(string? cacheRoot = null)
    {
        string root = cacheRoot ?? DefaultCache();
        string key = Key();
        string dir = Path.Combine(root, key);
        if (!File.Exists(Path.Combine(dir, "done")))
        {
            string tmp = dir + ".tmp" + Environment.ProcessId;
            Directory.CreateDirectory(tmp);
            BuildInto(tmp);
            File.WriteAllText(Path.Combine(tmp, "done"), "");
            try { Directory.Move(tmp, dir); }
            catch (IOException) { Directory.Delete(tmp, true); } // another process finished first
        }
        var seeds = Directory.EnumerateFiles(dir).Where(f => f.EndsWith(".o") || f.EndsWith(".a"))
            .Where(f => Path.GetFileName(f) != "driver.o").Order(StringComparer.Ordinal)
            .Select(f => new Seed(Path.GetFileName(f), File.ReadAllBytes(f), f.EndsWith(".a"))).ToList();
        return (seeds, Path.Combine(dir, "driver.o"));
    }

    static string DefaultCache() =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "orcsharp", "fuzz-seeds");

    /// <summary>Sources, flags and compiler versions: a new compiler or a changed seed builds a new set.</summary>
    static string Key()
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in Directory.EnumerateFiles(SourceDir).Order(StringComparer.Ordinal))
        {
            h.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(f)));
            h.AppendData(File.ReadAllBytes(f));
        }
        h.AppendData(Encoding.UTF8.GetBytes(string.Join("|", Flags) + Version("gcc") + Version("clang-14")));
        return Convert.ToHexString(h.GetHashAndReset())[..16].ToLowerInvariant();
    }

    static string Version(string compiler) => Run(compiler, ["--version"], Path.GetTempPath(), throwOnError: false);

    static void BuildInto(string dir)
    {
        var jobs = new List<(string Compiler, string Source, string Flags, string Out)>();
        foreach (var src in new[] { "basic.c", "tls.c", "init.c", "eh.cpp", "tls.cpp" })
        {
            bool cxx = src.EndsWith(".cpp");
            foreach (var (cc, tag) in cxx ? new[] { ("g++", "gcc"), ("clang++-14", "clang") } : new[] { ("gcc", "gcc"), ("clang-14", "clang") })
                foreach (var f in Flags)
                {
                    if (cxx && f.Contains("-fno-pic")) continue; // C++ in the README matrix is PIE or PIC
                    string extra = src == "init.c" ? " -fcommon" : "";
                    jobs.Add((cc, src, f + extra, Path.Combine(dir, $"{Path.GetFileNameWithoutExtension(src)}{(cxx ? "-cpp" : "")}.{tag}{f.Replace(" ", "").Replace("-f", ".").Replace("-", ".")}.o")));
                }
        }
        Parallel.ForEach(jobs, new ParallelOptions { MaxDegreeOfParallelism = 2 }, j =>
            Run(j.Compiler, [.. j.Flags.Split(' ', StringSplitOptions.RemoveEmptyEntries), "-c", Path.Combine(SourceDir, j.Source), "-o", j.Out], dir));

        File.WriteAllText(Path.Combine(dir, "driver.c"), DriverSource);
        Run("gcc", ["-O2", "-c", "driver.c", "-o", "driver.o"], dir);
        // Archives: regular (GNU symbol index), without an index, and with a long member name.
        foreach (var (cc, f) in new[] { ("gcc", "-O2"), ("clang-14", "-O0 -fno-pic") })
        {
            var members = new List<string>();
            foreach (var m in new[] { "archive_main.c", "util.c", "data.c" })
            {
                string o = Path.Combine(dir, $"{Path.GetFileNameWithoutExtension(m)}_member_with_a_long_name.o");
                Run(cc, [.. f.Split(' '), "-c", Path.Combine(SourceDir, m), "-o", o], dir);
                members.Add(o);
            }
            string tag = cc.StartsWith("clang") ? "clang" : "gcc";
            Run("ar", ["rcs", Path.Combine(dir, $"lib.{tag}.a"), .. members], dir);
            Run("ar", ["rcS", Path.Combine(dir, $"lib.{tag}.noindex.a"), .. members], dir);
            foreach (var o in members) File.Delete(o);
        }
    }

    static string Run(string file, IEnumerable<string> args, string dir, bool throwOnError = true)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 && throwOnError) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {err.Result}");
        return output;
    }
}
