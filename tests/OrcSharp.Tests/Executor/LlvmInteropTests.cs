using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>Skipped, with the reason printed, when Debian's llvm-19 is not installed (.ci/run installs it).</summary>
public sealed class RequiresLlvm19TheoryAttribute : TheoryAttribute
{
    public RequiresLlvm19TheoryAttribute() { if (LlvmInterop.Missing is { } why) Skip = why; }
}

/// <inheritdoc cref="RequiresLlvm19TheoryAttribute"/>
public sealed class RequiresLlvm19FactAttribute : FactAttribute
{
    public RequiresLlvm19FactAttribute() { if (LlvmInterop.Missing is { } why) Skip = why; }
}

static class LlvmInterop
{
    public const string Jitlink = "/usr/bin/llvm-jitlink-19";
    public const string Executor = "/usr/lib/llvm-19/bin/llvm-jitlink-executor";
    public static string? Missing => File.Exists(Jitlink) && File.Exists(Executor) ? null : $"llvm-19 is not installed ({Jitlink}, {Executor}: Debian package llvm-19)";

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}

/// <summary>
/// OrcSharp and LLVM 19 on either side of SimpleRemoteEPC (issue 14): llvm-jitlink-19 driving orcsharp's
/// executor (over pipes as -oop-executor starts it, and over TCP), orcsharp's controller driving
/// llvm-jitlink-executor (run --oop-executor and --connect); each run compared byte for byte with the
/// natively linked program. llvm-jitlink passes -args as the whole argv (no program name), so its native
/// run gets the same argv[0]. Programs come from tests/corpus.
/// </summary>
public class LlvmInteropTests
{
    public static IEnumerable<object[]> Programs => [["func_ptrs.c"], ["weak_undef.c"], ["libc_heavy.c"]];

    static (string Obj, string Native, string Dir) Build(string program)
    {
        string dir = Directory.CreateTempSubdirectory("orcsharp-llvm-").FullName;
        string src = Path.Combine(dir, program);
        File.Copy(Path.Combine(TestSupport.RepoRoot, "tests", "corpus", "c", program), src);
        string obj = NativeComparison.Compile(RunMode.OutOfProcess, src);
        string native = Path.Combine(dir, "native");
        var link = ProcessRunner.Run("gcc", [obj, "-o", native, "-pthread"], dir, 120000);
        Assert.True(link.ExitCode == 0, link.StderrText);
        return (obj, native, dir);
    }

    static ProcessResult Native(string native, string dir, string argv0, params string[] args) =>
        ProcessRunner.Run("bash", new[] { "-c", "exec -a \"$0\" \"$ORCSHARP_NATIVE_PROG\" \"$@\"", argv0 }.Concat(args), dir, 60000,
            new() { ["ORCSHARP_NATIVE_PROG"] = native });

    static void AssertSame(ProcessResult native, string stdout, int exitCode, string what)
    {
        Assert.Equal(native.StdoutText, stdout);
        Assert.True(native.ExitCode == exitCode, $"{what}: exit status {exitCode}, native {native.ExitCode}");
    }

    [RequiresLlvm19Theory]
    [MemberData(nameof(Programs))]
    public void LlvmJitlinkRunsProgramsInOrcsharpExecutorOverPipes(string program)
    {
        var (obj, native, dir) = Build(program);
        var expected = Native(native, dir, "alpha", "beta");
        var r = ProcessRunner.Run(LlvmInterop.Jitlink, [$"-oop-executor={TestSupport.Orcsharp}", obj, "-args", "alpha", "beta"], dir, 120000);
        Assert.False(r.TimedOut, "llvm-jitlink timed out");
        Assert.Equal(expected.StderrText, r.StderrText);
        AssertSame(expected, r.StdoutText, r.ExitCode, "llvm-jitlink -oop-executor=orcsharp");
    }

    [RequiresLlvm19Theory]
    [MemberData(nameof(Programs))]
    public void LlvmJitlinkRunsProgramsInOrcsharpExecutorOverTcp(string program)
    {
        var (obj, native, dir) = Build(program);
        var expected = Native(native, dir, "alpha", "beta");
        // LLVM's controller cannot answer the token handshake: listen=ADDR:PORT (LLVM's form) without it.
        using var executor = ListeningExecutor.Start(null, "listen=127.0.0.1:0", "--insecure-no-auth");
        var r = ProcessRunner.Run(LlvmInterop.Jitlink, [$"-oop-executor-connect={executor.Address}", obj, "-args", "alpha", "beta"], dir, 120000);
        // LLVM 19's controller alone never ends a TCP session (it closes its socket while its reader blocks);
        // orcsharp's executor ends it once the program has run and everything is deallocated.
        Assert.False(r.TimedOut, "llvm-jitlink -oop-executor-connect did not finish");
        Assert.True(r.StderrText == "", "llvm-jitlink: " + r.StderrText + " executor: " + string.Join(" | ", executor.Log));
        Assert.Equal(0, executor.WaitForExit());
        AssertSame(expected, executor.Stdout, r.ExitCode, "llvm-jitlink -oop-executor-connect");
    }

    [RequiresLlvm19Theory]
    [MemberData(nameof(Programs))]
    public void OrcsharpRunsProgramsInLlvmExecutorOverPipes(string program)
    {
        var (obj, native, dir) = Build(program);
        var expected = Native(native, dir, obj, "alpha", "beta");
        var r = ProcessRunner.Run(TestSupport.Orcsharp, ["run", $"--oop-executor={LlvmInterop.Executor}", obj, "--", "alpha", "beta"], dir, 120000);
        Assert.False(r.TimedOut, "orcsharp run --oop-executor timed out");
        Assert.Equal(expected.StderrText, r.StderrText);
        AssertSame(expected, r.StdoutText, r.ExitCode, "orcsharp run --oop-executor=llvm-jitlink-executor");
    }

    [RequiresLlvm19Theory]
    [MemberData(nameof(Programs))]
    public void OrcsharpRunsProgramsInLlvmExecutorOverTcp(string program)
    {
        var (obj, native, dir) = Build(program);
        var expected = Native(native, dir, obj, "alpha", "beta");
        int port = LlvmInterop.FreePort();
        var executor = new System.Diagnostics.Process { StartInfo = new(LlvmInterop.Executor, $"listen=127.0.0.1:{port}") { RedirectStandardOutput = true, RedirectStandardError = true } };
        executor.Start();
        var stdout = executor.StandardOutput.ReadToEndAsync();
        try
        {
            ProcessResult r = null!;
            for (int attempt = 0; attempt < 100; attempt++) // until it listens
            {
                r = ProcessRunner.Run(TestSupport.Orcsharp, ["run", "--connect", $"127.0.0.1:{port}", obj, "--", "alpha", "beta"], dir, 120000);
                if (!r.StderrText.Contains("cannot connect", StringComparison.Ordinal)) break;
                Thread.Sleep(50);
            }
            Assert.False(r.TimedOut, "orcsharp run --connect timed out");
            Assert.True(executor.WaitForExit(30000), "llvm-jitlink-executor did not exit");
            Assert.Equal("", r.StderrText);
            AssertSame(expected, stdout.Result, r.ExitCode, "orcsharp run --connect llvm-jitlink-executor");
        }
        finally { if (!executor.HasExited) executor.Kill(); }
    }

    [RequiresLlvm19Fact]
    public void OrcsharpControllerNamesTheMissingServiceForThreadLocals()
    {
        string dir = Directory.CreateTempSubdirectory("orcsharp-llvm-").FullName;
        string src = NativeComparison.Write(dir, "tls.c", "__thread int counter = 41;\nint main(void) { return ++counter; }\n");
        string obj = NativeComparison.Compile(RunMode.OutOfProcess, src);
        var r = ProcessRunner.Run(TestSupport.Orcsharp, ["run", $"--oop-executor={LlvmInterop.Executor}", obj], dir, 120000);
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"^orcsharp: error: .*orcsharp_create_tls_module.*LLVM's standard services only.*\n$", r.StderrText);
    }

    /// <summary>Round trips for hello: llvm-jitlink with orcsharp's executor needs no more CallWrapper
    /// messages than with LLVM's own (10 in LLVM 19), counted by a relay between the two.</summary>
    [RequiresLlvm19Fact]
    public void LlvmControllerNeedsNoMoreRoundTripsWithOrcsharpExecutor()
    {
        string dir = Directory.CreateTempSubdirectory("orcsharp-llvm-").FullName;
        string obj = NativeComparison.Compile(RunMode.OutOfProcess, NativeComparison.Write(dir, "hello.c", "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"));

        using var ours = ListeningExecutor.Start(null, "listen=127.0.0.1:0", "--insecure-no-auth");
        int withOrcsharp = CountCalls(ours.Port, obj, dir);

        int port = LlvmInterop.FreePort();
        var llvm = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(LlvmInterop.Executor, $"listen=127.0.0.1:{port}") { RedirectStandardOutput = true })!;
        try
        {
            Thread.Sleep(300);
            int withLlvm = CountCalls(port, obj, dir);
            Assert.True(withLlvm >= 10, $"llvm-jitlink with its own executor made {withLlvm} calls (LLVM 19: 10)");
            Assert.True(withOrcsharp <= withLlvm, $"llvm-jitlink made {withOrcsharp} calls with orcsharp's executor, {withLlvm} with LLVM's");
        }
        finally { if (!llvm.HasExited) llvm.Kill(); }
    }

    /// <summary>Relays llvm-jitlink's TCP session to the executor at <paramref name="port"/> and counts its
    /// CallWrapper messages up to the answer to the last (LLVM 19's controller may then hang, see above).</summary>
    static int CountCalls(int port, string obj, string dir)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int relayPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        int calls = 0, results = 0;
        var jitlink = Task.Run(() => ProcessRunner.Run(LlvmInterop.Jitlink, [$"-oop-executor-connect=127.0.0.1:{relayPort}", obj], dir, 20000));
        using var controller = listener.AcceptTcpClient();
        listener.Stop();
        using var executor = new TcpClient("127.0.0.1", port);
        void Pump(NetworkStream from, NetworkStream to, bool fromController)
        {
            var header = new byte[32];
            try
            {
                while (true)
                {
                    from.ReadExactly(header);
                    var body = new byte[BinaryPrimitives.ReadUInt64LittleEndian(header) - 32];
                    from.ReadExactly(body);
                    ulong op = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8));
                    if (fromController && op == 3) Interlocked.Increment(ref calls);
                    if (!fromController && op == 2) Interlocked.Increment(ref results);
                    to.Write(header); to.Write(body);
                }
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException) { }
        }
        var a = Task.Run(() => Pump(controller.GetStream(), executor.GetStream(), true));
        var b = Task.Run(() => Pump(executor.GetStream(), controller.GetStream(), false));
        // Done when the program has run and every call is answered for a while.
        var until = DateTime.UtcNow.AddSeconds(20);
        int seen = -1;
        while (DateTime.UtcNow < until && !jitlink.IsCompleted)
        {
            Thread.Sleep(500);
            int c = Volatile.Read(ref calls);
            if (c > 0 && c == Volatile.Read(ref results) && c == seen) break;
            seen = c;
        }
        controller.Close(); executor.Close();
        return calls;
    }
}
