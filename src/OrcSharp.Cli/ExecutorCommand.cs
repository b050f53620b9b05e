using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>
/// orcsharp executor: the process that runs JIT'd code for a controller elsewhere. --stdio speaks
/// SimpleRemoteEPC on stdin/stdout (private to the parent: no token); the program then gets the
/// descriptors named by --program-stdout and --program-stdin (what "run --oop" passes), or stderr and
/// /dev/null. --listen serves one session over TCP (loopback unless --allow-remote; controllers
/// authenticate with a token unless --insecure-no-auth) or a Unix socket (mode 0600). LLVM's forms work too:
/// filedescs=R,W (how llvm-jitlink -oop-executor starts an executor) and listen=ADDR:PORT (as --listen; LLVM's
/// controller cannot authenticate, so give --insecure-no-auth for it). Crash reports go to
/// --crash-report-fd (or stderr); --no-backtrace leaves crashes alone.
/// </summary>
static partial class ExecutorCommand
{
    [LibraryImport("libc.so.6")] private static partial int dup2(int oldFd, int newFd);
    [LibraryImport("libc.so.6")] private static partial int fcntl(int fd, int cmd, int arg);
    [LibraryImport("libc.so.6")] private static partial int close(int fd);
    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)] private static partial int open(string path, int flags);
    const int FDupfdCloexec = 1030, FGetfl = 3, FSetfl = 4, FSetfd = 2, FdCloexec = 1, ONonblock = 0x800;

    public static int Execute(string[] args)
    {
        LauncherCheck.EnsureFresh();
        bool stdio = false, allowRemote = false, insecure = false;
        string? listen = null, tokenFile = null;
        (int In, int Out)? fileDescriptors = null;
        int programStdout = -1, programStdin = -1, crashReportFd = -1;
        bool noBacktrace = false;
        var limits = new ExecutorLimits();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new LinkError($"option {args[i]} needs a value");
            int Fd() => int.TryParse(Value(), out int fd) && fd >= 0 ? fd : throw new LinkError($"option {args[i - 1]} needs a descriptor number");
            // LLVM's controller starts an executor with "filedescs=R,W" (llvm-jitlink -oop-executor) and
            // documents "listen=ADDR:PORT"; both forms mean what they mean to llvm-jitlink-executor.
            if (args[i].StartsWith("filedescs=", StringComparison.Ordinal)) { fileDescriptors = FileDescriptors(args[i]); continue; }
            if (args[i].StartsWith("listen=", StringComparison.Ordinal)) { listen = args[i]["listen=".Length..]; continue; }
            switch (args[i])
            {
                case "--stdio": stdio = true; break;
                case "--listen": listen = Value(); break;
                case "--allow-remote": allowRemote = true; break;
                case "--insecure-no-auth": insecure = true; break;
                case "--token-file": tokenFile = Value(); break;
                case "--program-stdout": programStdout = Fd(); break;
                case "--program-stdin": programStdin = Fd(); break;
                case "--crash-report-fd": crashReportFd = Fd(); break;
                case "--no-backtrace": noBacktrace = true; break;
                case "--max-message-size": limits = limits with { MaxMessageSize = Size(args[i], Value()) }; break;
                case "--max-calls-in-flight":
                    limits = limits with { MaxCallsInFlight = int.TryParse(Value(), out int n) && n > 0 ? n : throw new LinkError($"option {args[i - 1]} needs a positive number") };
                    break;
                case "--handshake-timeout":
                    limits = limits with
                    {
                        HandshakeTimeout = double.TryParse(Value(), System.Globalization.CultureInfo.InvariantCulture, out double t) && t > 0 && t <= 86400
                            ? TimeSpan.FromSeconds(t) : throw new LinkError($"option {args[i - 1]} needs a number of seconds")
                    };
                    break;
                default: throw new LinkError($"unknown executor option '{args[i]}' (see orcsharp --help)");
            }
        }
        if ((stdio ? 1 : 0) + (listen is not null ? 1 : 0) + (fileDescriptors is not null ? 1 : 0) != 1)
            throw new LinkError("executor needs exactly one of --stdio, --listen ADDRESS, filedescs=R,W or listen=ADDRESS");
        InstallCrashReport(noBacktrace, crashReportFd);
        if (fileDescriptors is { } fds)
        {
            if (allowRemote || insecure || tokenFile is not null || programStdout >= 0 || programStdin >= 0)
                throw new LinkError("filedescs=R,W takes no --allow-remote, --insecure-no-auth, --token-file, --program-stdout or --program-stdin");
            return ServeFileDescriptors(fds.In, fds.Out, limits);
        }
        if (stdio)
        {
            if (allowRemote || insecure || tokenFile is not null) throw new LinkError("--allow-remote, --insecure-no-auth and --token-file go with --listen");
            return ServeStdio(programStdout, programStdin, limits);
        }
        return Listen(ExecutorEndpoint.Parse(listen!), allowRemote, insecure, tokenFile, limits);
    }

    static ulong Size(string option, string text)
    {
        ulong unit = text.Length > 0 ? char.ToUpperInvariant(text[^1]) switch { 'K' => 1UL << 10, 'M' => 1UL << 20, 'G' => 1UL << 30, _ => 1 } : 1;
        string digits = unit == 1 ? text : text[..^1];
        if (!ulong.TryParse(digits, out ulong n) || n == 0 || n > (4UL << 30) / unit)
            throw new LinkError($"option {option} needs a size in bytes (K, M or G may follow), at most 4G");
        ulong size = n * unit;
        if (size < ExecutorLimits.HandshakeMaxMessageSize) throw new LinkError($"option {option}: {size} bytes is too small (at least {ExecutorLimits.HandshakeMaxMessageSize})");
        return size;
    }

    static int ServeStdio(int programStdout, int programStdin, ExecutorLimits limits)
    {
        // The transport moves off 0 and 1 so the program's stdio can take them.
        int inFd = fcntl(0, FDupfdCloexec, 10), outFd = fcntl(1, FDupfdCloexec, 10);
        if (inFd < 0 || outFd < 0) throw new LinkError("executor: stdin and stdout must be open");
        if (programStdout >= 0) { dup2(programStdout, 1); close(programStdout); } else dup2(2, 1);
        if (programStdin >= 0) { dup2(programStdin, 0); close(programStdin); }
        else { int devNull = open("/dev/null", 0); if (devNull >= 0) { dup2(devNull, 0); close(devNull); } }
        var transport = new SimpleRemoteTransport(new FileStream(new SafeFileHandle(inFd, true), FileAccess.Read, 1 << 16),
            new FileStream(new SafeFileHandle(outFd, true), FileAccess.Write, 1));
        return new SimpleRemoteExecutorServer(transport, Console.Error, limits).Run();
    }

    static (int, int) FileDescriptors(string arg)
    {
        var parts = arg["filedescs=".Length..].Split(',');
        if (parts.Length == 2 && int.TryParse(parts[0], out int r) && int.TryParse(parts[1], out int w) && r >= 0 && w >= 0) return (r, w);
        throw new LinkError($"'{arg}': filedescs= needs two descriptor numbers, filedescs=READ,WRITE");
    }

    /// <summary>llvm-jitlink's way: the pipes are the descriptors given (private to the parent: no token) and
    /// the program keeps this process's stdin, stdout and stderr.</summary>
    static int ServeFileDescriptors(int inFd, int outFd, ExecutorLimits limits)
    {
        if (fcntl(inFd, FGetfl, 0) < 0 || fcntl(outFd, FGetfl, 0) < 0) throw new LinkError($"filedescs={inFd},{outFd}: descriptor not open");
        // Not for the program's children.
        fcntl(inFd, FSetfd, FdCloexec);
        fcntl(outFd, FSetfd, FdCloexec);
        var transport = new SimpleRemoteTransport(new FileStream(new SafeFileHandle(inFd, true), FileAccess.Read, 1 << 16),
            new FileStream(new SafeFileHandle(outFd, true), FileAccess.Write, 1));
        return new SimpleRemoteExecutorServer(transport, Console.Error, limits).Run();
    }

    static int Listen(ExecutorEndpoint endpoint, bool allowRemote, bool insecure, string? tokenFile, ExecutorLimits limits)
    {
        var log = Console.Error;
        ExecutorToken? token = null;
        string? generated = null;
        if (endpoint.IsUnix)
        {
            if (tokenFile is not null) throw new LinkError("--token-file goes with TCP: a Unix socket is protected by its file mode (0600)");
        }
        else if (insecure)
        {
            if (tokenFile is not null) throw new LinkError("--insecure-no-auth and --token-file exclude each other");
        }
        else if (tokenFile is not null) token = ExecutorToken.ReadFile(tokenFile);
        else if (ExecutorToken.FromEnvironment() is { } fromEnv) token = fromEnv;
        else (token, generated) = ExecutorToken.Generate();

        using var listener = ExecutorListener.Start(endpoint, allowRemote, token, limits, log);
        if (generated is not null)
            log.WriteLine($"orcsharp executor: token written to {generated} (controllers: run --connect {listener.LocalAddress} --token-file {generated})");
        if (insecure && !endpoint.IsUnix)
            log.WriteLine($"orcsharp executor: warning: --insecure-no-auth: anyone who can reach {listener.LocalAddress} can run code as this user");
        log.WriteLine($"orcsharp executor: listening on {listener.LocalAddress}");
        // One session per executor: once it is established, the token has done its job.
        if (generated is not null) listener.SessionStarted = () => DeleteTokenFile(generated);
        try { return listener.Run(); }
        finally { if (generated is not null) DeleteTokenFile(generated); }
    }

    static void DeleteTokenFile(string path)
    {
        try
        {
            File.Delete(path);
            Directory.Delete(Path.GetDirectoryName(path)!);
        }
        catch (IOException) { }
    }

    /// <summary>Crash reports of the code this executor runs go to the controller's pipe when it gave one
    /// (it prints its own error line first), else to stderr after a line of their own.</summary>
    static void InstallCrashReport(bool noBacktrace, int fd)
    {
        if (noBacktrace) return;
        if (fd >= 0)
        {
            // Not for the program's children, and never blocking the crashing process.
            fcntl(fd, FSetfd, FdCloexec);
            fcntl(fd, FSetfl, fcntl(fd, FGetfl, 0) | ONonblock);
        }
        CrashReport.Install(fd >= 0 ? fd : 2, fd >= 0 ? null : "orcsharp executor: error: program terminated by signal ");
    }
}
