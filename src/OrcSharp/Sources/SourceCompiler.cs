using System.Diagnostics;
using OrcSharp.Shared;

namespace OrcSharp.Sources;

/// <summary>
/// Compiles C and C++ sources to objects with the system's compilers ($CC / $CXX, default cc / c++, or the
/// Debian cross compilers for another architecture) and $CFLAGS / $CXXFLAGS, through a cache under
/// ~/.cache/orcsharp (or $ORCSHARP_CACHE, $XDG_CACHE_HOME/orcsharp). A cache hit costs a few stat calls
/// and no hashing: see <see cref="CompileStamp"/>. Misses compile on every core at once. A source may
/// come with its language ("c" or "c++", as gcc's -x gives it) whatever its name says; a source read
/// from a pipe ("-", /dev/stdin, a process substitution) is kept in the cache under a name made from
/// its content and compiled from there, its quoted includes searched in the current directory, as gcc
/// searches them for "gcc -x c -".
/// </summary>
public static class SourceCompiler
{
    static readonly string[] CExtensions = [".c"];
    static readonly string[] CxxExtensions = [".cc", ".cpp", ".cxx", ".c++", ".C"];

    /// <summary>Whether a path names a C or C++ source (by its extension, as the compiler driver decides).</summary>
    public static bool IsSource(string path) => IsC(path) || IsCxx(path);
    static bool IsC(string path) => CExtensions.Contains(Path.GetExtension(path), StringComparer.Ordinal);
    /// <summary>Whether a path names a C++ source.</summary>
    public static bool IsCxx(string path) => CxxExtensions.Contains(Path.GetExtension(path), StringComparer.Ordinal);

    /// <summary>Compiles one source (or finds it in the cache) and returns the object's path.</summary>
    public static string Compile(string source, CompilerSettings? settings = null) => CompileAll([source], settings)[0];

    /// <summary>
    /// Compiles every source that is not already cached, all at once up to <see cref="CompilerSettings.Parallelism"/>,
    /// and returns the objects in the order of <paramref name="sources"/>. <paramref name="progress"/>, when
    /// given, is told (done, total) as compiles finish once compiling has taken more than a second.
    /// The first failing source in the given order is the one reported.
    /// </summary>
    public static string[] CompileAll(IReadOnlyList<string> sources, CompilerSettings? settings = null, Action<int, int>? progress = null,
        IReadOnlyList<string?>? languages = null)
    {
        settings ??= CompilerSettings.FromEnvironment();
        string dir = Path.Combine(settings.CacheDirectory, "objects");
        var jobs = new CompileJob[sources.Count];
        var misses = new List<CompileJob>();
        for (int i = 0; i < sources.Count; i++)
        {
            jobs[i] = CompileJob.For(sources[i], settings, dir, languages?[i]);
            if (!jobs[i].IsCached()) misses.Add(jobs[i]);
        }
        if (misses.Count > 0)
        {
            Directory.CreateDirectory(dir);
            var clock = Stopwatch.StartNew();
            int done = 0;
            var failures = new Exception?[misses.Count];
            Parallel.For(0, misses.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, settings.Parallelism) }, i =>
            {
                try { misses[i].Run(); }
                catch (Exception e) { failures[i] = e; }
                int k = Interlocked.Increment(ref done);
                if (progress is not null && clock.ElapsedMilliseconds > 1000) progress(k, misses.Count);
            });
            if (failures.FirstOrDefault(f => f is not null) is { } first)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        }
        return jobs.Select(j => j.Object).ToArray();
    }

    /// <summary>One source's compile: the command that builds it and the cache entry it lands in.</summary>
    sealed class CompileJob
    {
        public required string Source, Compiler, Object;
        public required string[] Flags;
        public required CompileStamp.Key Key;
        string Depfile => Path.ChangeExtension(Object, ".d");
        string StampFile => Path.ChangeExtension(Object, ".stamp");

        public static CompileJob For(string source, CompilerSettings settings, string dir, string? language)
        {
            bool cxx = language is not null ? language == "c++" : IsCxx(source);
            string compiler = cxx ? settings.CxxCompiler : settings.CCompiler;
            string flags = cxx ? settings.CxxFlags : settings.CFlags;
            string full;
            var flagList = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            if (source == "-" || FileStatus.Get(source) is { IsRegular: false, IsDirectory: false })
            {
                full = Spool(InputFile.Read(source).Bytes.Span, dir, cxx);
                flagList.AddRange(["-iquote", Environment.CurrentDirectory]);
            }
            else full = Path.GetFullPath(source);
            if (language is not null) flagList.AddRange(["-x", language]);
            flags = string.Join(' ', flagList); // the cache key's record of the command
            // Flags may name relative paths (-I include), which mean something else in another directory.
            var key = new CompileStamp.Key(compiler, flags, full, flags.Length > 0 ? Environment.CurrentDirectory : "");
            return new CompileJob
            {
                Source = source, Compiler = compiler, Flags = [.. flagList],
                Object = Path.Combine(dir, key.FileName + ".o"), Key = key,
            };
        }

        /// <summary>Writes piped source text to the cache, named by its content (FNV-1a, 128 bits), once.</summary>
        static string Spool(ReadOnlySpan<byte> text, string dir, bool cxx)
        {
            ulong a = 0xcbf29ce484222325, b = 0x84222325cbf29ce4;
            foreach (byte c in text) { a = (a ^ c) * 0x100000001b3; b = (b ^ c) * 0x100000001b3 + 0x9e3779b97f4a7c15; }
            string piped = Path.Combine(dir, "piped");
            Directory.CreateDirectory(piped);
            string path = Path.Combine(piped, $"{a:x16}{b:x16}{(cxx ? ".cc" : ".c")}");
            if (FileStatus.Get(path) is { } st && st.Size == text.Length) return path;
            string tmp = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllBytes(tmp, text.ToArray());
            File.Move(tmp, path, true);
            return path;
        }

        public bool IsCached()
        {
            if (FileStatus.Get(Key.SourcePath) is not { IsDirectory: false })
                throw new LinkError($"{Source}: no such file");
            return CompileStamp.IsCurrent(StampFile, Key, Object);
        }

        public void Run()
        {
            string tmp = $"{Object}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
            var started = DateTime.UtcNow;
            var psi = new ProcessStartInfo(Compiler) { UseShellExecute = false };
            foreach (var f in Flags) psi.ArgumentList.Add(f);
            foreach (var a in new[] { "-c", Key.SourcePath, "-o", tmp + ".o", "-MD", "-MF", tmp + ".d" }) psi.ArgumentList.Add(a);
            Process p;
            try { p = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception e) { throw new LinkError($"cannot run compiler '{Compiler}': {e.Message}"); }
            int status;
            using (p) { p.WaitForExit(); status = p.ExitCode; }
            if (status != 0)
            {
                File.Delete(tmp + ".o"); File.Delete(tmp + ".d");
                throw new LinkError($"{Source}: compilation with '{Compiler}' failed (exit status {status})");
            }
            File.Delete(StampFile); // no stamp while the object and depfile are being replaced
            File.Move(tmp + ".d", Depfile, true);
            File.Move(tmp + ".o", Object, true);
            CompileStamp.Write(StampFile, Key, Depfile, started);
        }
    }
}
