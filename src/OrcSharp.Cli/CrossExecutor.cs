using System.Diagnostics;
using System.Runtime.InteropServices;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>
/// An executor for another architecture: "orcsharp executor" published NativeAOT for that architecture
/// and run under Debian's qemu-user with the cross C library as its root (qemu-aarch64 -L
/// /usr/aarch64-linux-gnu). The binary is built on first use next to this one, and again when this one
/// is newer; ORCSHARP_AARCH64_EXECUTOR names a ready-made one instead.
/// </summary>
static partial class CrossExecutor
{
    /// <summary>The prefix of the Debian cross tools for a target ("aarch64-linux-gnu-").</summary>
    public static string ToolPrefix(string arch) => $"{arch}-linux-gnu-";

    /// <summary>Starts the executor for <paramref name="arch"/> with <paramref name="executorArguments"/>
    /// ("executor --stdio ..."); it connects while the caller goes on.</summary>
    public static StartingExecutor Spawn(string arch, IReadOnlyDictionary<string, string> environment, IReadOnlyList<string> executorArguments,
        RemoteExecutorOptions? options = null)
    {
        string qemu = $"/usr/bin/qemu-{arch}";
        string sysroot = $"/usr/{arch}-linux-gnu";
        if (!File.Exists(qemu)) throw new LinkError($"running {arch} code needs {qemu} (Debian package qemu-user)");
        if (!Directory.Exists(sysroot)) throw new LinkError($"running {arch} code needs {sysroot} (Debian package libc6-dev-{(arch == "aarch64" ? "arm64" : arch)}-cross)");
        string executor = Environment.GetEnvironmentVariable($"ORCSHARP_{arch.ToUpperInvariant()}_EXECUTOR") is { Length: > 0 } given ? given : BuildIfNeeded(arch);
        // The environment is the guest's only: qemu's own glibc would apply a static TLS reserve to its
        // small-stack CPU threads too, and then no guest thread could start.
        var args = new List<string> { "-L", sysroot };
        foreach (var (k, v) in environment) { args.Add("-E"); args.Add($"{k}={v}"); }
        args.Add(executor);
        args.AddRange(executorArguments);
        // Connected in the background: the start under emulation overlaps compiling and linking.
        return new StartingExecutor($"{arch}-unknown-linux-gnu", qemu, args, null, options ?? RunCommand.RemoteOptions());
    }

    static string BuildIfNeeded(string arch)
    {
        string self = Environment.ProcessPath ?? throw new LinkError("cannot find the orcsharp executable");
        string selfDir = Path.GetDirectoryName(self)!;
        string root = Path.GetFullPath(Path.Combine(selfDir, "..", ".."));
        string project = Path.Combine(root, "src", "OrcSharp.Cli", "OrcSharp.Cli.csproj");
        string rid = arch == "aarch64" ? "linux-arm64" : "linux-x64";
        string outDir = Path.Combine(root, ".cache", $"orcsharp-cli-{rid}");
        string binary = Path.Combine(outDir, "OrcSharp.Cli");
        bool Fresh() => File.Exists(binary) && File.GetLastWriteTimeUtc(binary) >= File.GetLastWriteTimeUtc(self);
        if (Fresh()) return binary;
        if (!File.Exists(project))
            throw new LinkError($"no {arch} executor: set ORCSHARP_{arch.ToUpperInvariant()}_EXECUTOR to an 'orcsharp' published for {rid}");

        using var buildLock = LockFile(Path.Combine(root, ".cache", $"build-{rid}.lock"));
        if (Fresh()) return binary;
        // Said only to a person at a terminal: redirected stderr belongs to the program's output.
        if (!Console.IsErrorRedirected) Console.Error.WriteLine($"orcsharp: building the {arch} executor (NativeAOT for {rid}, first use)...");
        string tmp = outDir + ".tmp";
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "publish", project, "-c", "Release", "-r", rid, "-o", tmp, "-nologo",
                     // The ILCompiler links with clang-style --target; clang drives the cross binutils.
                     "-p:CppCompilerAndLinker=clang-14", $"-p:ObjCopyName={ToolPrefix(arch)}objcopy",
                     // Configured for running under qemu-user (see OrcSharp.Cli.csproj).
                     "-p:OrcSharpCrossExecutor=true" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new LinkError($"building the {arch} executor failed: {(output.Result + errors.Result).Trim().Split('\n').LastOrDefault(l => l.Contains("error")) ?? "see dotnet publish"}");
        if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        Directory.Move(tmp, outDir);
        File.SetLastWriteTimeUtc(binary, DateTime.UtcNow);
        return binary;
    }

    /// <summary>An exclusive lock on a file (waits for another build to finish).</summary>
    /// <summary>An exclusive lock on <paramref name="path"/> for as long as the stream is open. flock(2)
    /// itself: the CLI turns off .NET's FileShare emulation (System.IO.DisableFileLocking), so
    /// FileShare.None no longer keeps a second process out.</summary>
    static FileStream LockFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        const int LockEx = 2;
        while (flock((int)stream.SafeFileHandle.DangerousGetHandle(), LockEx) != 0)
            if (Marshal.GetLastPInvokeError() != 4) { stream.Dispose(); throw new LinkError($"cannot lock {path}: {Marshal.GetLastPInvokeErrorMessage()}"); } // 4: EINTR
        return stream;
    }

    [LibraryImport("libc.so.6", SetLastError = true)] private static partial int flock(int fd, int operation);
}
