using System.Diagnostics;

namespace OrcSharp.Conformance;

public sealed record ProcessResult(int ExitCode, byte[] Stdout, byte[] Stderr, bool TimedOut)
{
    public string StderrText => System.Text.Encoding.UTF8.GetString(Stderr);
    public string StdoutText => System.Text.Encoding.UTF8.GetString(Stdout);
}

/// <summary>Runs a process with a timeout, capturing stdout and stderr as bytes.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string file, IEnumerable<string> args, string? workDir = null, int timeoutMs = 30000, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            WorkingDirectory = workDir ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var outTask = ReadAll(p.StandardOutput.BaseStream);
        var errTask = ReadAll(p.StandardError.BaseStream);
        bool done = p.WaitForExit(timeoutMs);
        if (!done) { try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } p.WaitForExit(); }
        return new ProcessResult(done ? p.ExitCode : -1, outTask.Result, errTask.Result, !done);
    }

    static async Task<byte[]> ReadAll(Stream s)
    {
        var ms = new MemoryStream();
        await s.CopyToAsync(ms);
        return ms.ToArray();
    }
}
