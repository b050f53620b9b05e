using OrcSharp.Conformance;

namespace OrcSharp.Tests;

/// <summary>Paths and small helpers shared by the tests: the repo root, the orcsharp launcher, temp dirs, cc.</summary>
public static class TestSupport
{
    public static string RepoRoot { get; } = FindRoot();
    public static string Orcsharp => Path.Combine(RepoRoot, "orcsharp");

    static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "OrcSharp.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repo root (OrcSharp.slnx) not found");
    }

    public static string NewTempDir()
    {
        string d = Path.Combine(Path.GetTempPath(), "orcsharp-test-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Compiles C source text to an object in <paramref name="dir"/>; returns its path.</summary>
    public static string CompileC(string dir, string name, string source, string flags = "-O1") =>
        Compile("cc", ".c", dir, name, source, flags);

    /// <summary>Compiles C++ source text with c++ (g++).</summary>
    public static string CompileCxx(string dir, string name, string source, string flags = "-O1") =>
        Compile("c++", ".cpp", dir, name, source, flags);

    /// <summary>Compiles C source text with the given compiler (clang-14, a cross gcc ...).</summary>
    public static string CompileWith(string compiler, string dir, string name, string source, string flags) =>
        Compile(compiler, ".c", dir, name, source, flags);

    /// <summary>The NativeAOT orcsharp executable the launcher runs (built by it on first use): what
    /// debuggers are pointed at, since the launcher itself is a shell script.</summary>
    public static string OrcsharpBinary
    {
        get
        {
            string binary = Path.Combine(RepoRoot, ".cache", "orcsharp-cli", "OrcSharp.Cli");
            lock (BuildLock)
                if (!_built)
                {
                    var r = RunOrcsharp("--help");
                    if (r.ExitCode != 0) throw new InvalidOperationException("building orcsharp failed: " + r.StderrText);
                    _built = true;
                }
            return binary;
        }
    }
    static readonly object BuildLock = new();
    static bool _built;

    static string Compile(string compiler, string ext, string dir, string name, string source, string flags)
    {
        string src = Path.Combine(dir, name + ext), obj = Path.Combine(dir, name + ".o");
        File.WriteAllText(src, source);
        var r = ProcessRunner.Run(compiler, flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(new[] { "-c", src, "-o", obj }), dir, 300000);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{compiler} failed: " + r.StderrText);
        return obj;
    }

    /// <summary>A new JITDylib with these objects and the libraries the compiler driver adds, linked.</summary>
    public static OrcSharp.Orc.JITDylib LinkNew(OrcSharp.Orc.ExecutionSession session, string name, bool cxx, params string[] objects)
    {
        var jd = session.CreateJITDylib(name);
        var loader = new OrcSharp.Orc.InputLoader(jd, []);
        foreach (var o in objects) loader.AddFile(o);
        loader.AddDefaultLibraries(cxx);
        jd.Link();
        return jd;
    }

    public static ProcessResult Run(string cmd, params string[] args) => ProcessRunner.Run(cmd, args, timeoutMs: 300000);
    public static ProcessResult RunOrcsharp(params string[] args) => ProcessRunner.Run(Orcsharp, args, timeoutMs: 300000);
}
