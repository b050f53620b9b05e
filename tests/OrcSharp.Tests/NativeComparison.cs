using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests;

/// <summary>Where a program runs: in orcsharp's own process, in a child executor, or in an AArch64
/// executor under qemu-user (cross-compiled, linked here).</summary>
public enum RunMode { InProcess, OutOfProcess, AArch64 }

/// <summary>
/// Programs built from real packages and test sources, linked natively (the oracle) and run with
/// orcsharp run in one of the <see cref="RunMode"/>s: stdout, stderr and exit status must match byte for
/// byte. AArch64 runs need Debian's gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu and qemu-user (.ci/run
/// installs them); without them those tests fail, naming what is missing.
/// </summary>
public static class NativeComparison
{
    public static IEnumerable<object[]> AllModes => [[RunMode.InProcess], [RunMode.OutOfProcess], [RunMode.AArch64]];

    const string Sysroot = "/usr/aarch64-linux-gnu";

    /// <summary>The compiler driver for the mode: gcc/g++, or the Debian cross compilers.</summary>
    public static string Compiler(RunMode mode, bool cxx)
    {
        string cc = cxx ? "g++" : "gcc";
        if (mode != RunMode.AArch64) return cc;
        RequireCrossToolchain();
        return "aarch64-linux-gnu-" + cc;
    }

    static void RequireCrossToolchain()
    {
        foreach (var (file, package) in new[] { ("/usr/bin/aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu"), ("/usr/bin/qemu-aarch64", "qemu-user"), (Sysroot, "libc6-dev-arm64-cross") })
            Assert.True(File.Exists(file) || Directory.Exists(file), $"AArch64 runs need {file} (Debian package {package}; .ci/run installs it)");
    }

    /// <summary>Compiles one source file (C or C++ by extension) to an object in its directory.</summary>
    public static string Compile(RunMode mode, string source, string flags = "-O2", string? output = null)
    {
        bool cxx = Path.GetExtension(source) is ".cpp" or ".cc";
        string obj = output ?? Path.ChangeExtension(source, mode == RunMode.AArch64 ? ".arm64.o" : ".o");
        var r = ProcessRunner.Run(Compiler(mode, cxx), flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(["-c", source, "-o", obj]),
            Path.GetDirectoryName(source), 300000);
        Assert.True(r.ExitCode == 0, $"compiling {Path.GetFileName(source)} failed: {r.StderrText}");
        return obj;
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="name"/> in <paramref name="dir"/> and returns the path.</summary>
    public static string Write(string dir, string name, string text)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Links <paramref name="inputs"/> natively (with <paramref name="nativeLinkFlags"/> after
    /// them), runs the program with argv[0] equal to the first input, runs the same inputs with orcsharp
    /// run (plus <paramref name="orcsharpFlags"/>), and asserts that both give the same result.</summary>
    public static ProcessResult AssertMatchesNative(RunMode mode, IReadOnlyList<string> inputs, bool cxx = false,
        IReadOnlyList<string>? nativeLinkFlags = null, IReadOnlyList<string>? orcsharpFlags = null, IReadOnlyList<string>? programArgs = null)
    {
        string dir = Path.GetDirectoryName(inputs[0])!;
        string prog = Path.Combine(dir, "native-" + Guid.NewGuid().ToString("N")[..8]);
        var link = ProcessRunner.Run(Compiler(mode, cxx), inputs.Concat(["-o", prog, "-pthread"]).Concat(nativeLinkFlags ?? []), dir, 300000);
        Assert.True(link.ExitCode == 0, "native link failed: " + link.StderrText);
        var args = programArgs ?? [];
        var native = mode == RunMode.AArch64
            ? ProcessRunner.Run("qemu-aarch64", new[] { "-L", Sysroot, "-0", inputs[0], prog }.Concat(args), dir, 120000)
            : ProcessRunner.Run("bash", new[] { "-c", "exec -a \"$0\" \"$ORCSHARP_NATIVE_PROG\" \"$@\"", inputs[0] }.Concat(args), dir, 60000,
                new() { ["ORCSHARP_NATIVE_PROG"] = prog });
        var jit = RunOrcsharp(mode, inputs, orcsharpFlags, args);
        Assert.False(native.TimedOut, "the native program timed out");
        Assert.False(jit.TimedOut, "orcsharp timed out");
        Assert.Equal(native.StdoutText, jit.StdoutText);
        Assert.Equal(native.StderrText, jit.StderrText);
        Assert.Equal(native.ExitCode, jit.ExitCode);
        return jit;
    }

    /// <summary>orcsharp run in the given mode. The first AArch64 run may build the arm64 executor.</summary>
    public static ProcessResult RunOrcsharp(RunMode mode, IReadOnlyList<string> inputs, IReadOnlyList<string>? flags = null, IReadOnlyList<string>? programArgs = null)
    {
        var args = new List<string> { "run" };
        if (mode == RunMode.OutOfProcess) args.Add("--oop");
        if (mode == RunMode.AArch64) args.AddRange(["--target", "aarch64"]);
        args.AddRange(flags ?? []);
        args.AddRange(inputs);
        args.Add("--");
        args.AddRange(programArgs ?? []);
        return ProcessRunner.Run(TestSupport.Orcsharp, args, Path.GetDirectoryName(inputs[0]), mode == RunMode.AArch64 ? 600000 : 120000);
    }
}
