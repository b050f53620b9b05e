using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>
/// orcsharp executor: the process that runs JIT'd code for a controller elsewhere. --stdio speaks
/// SimpleRemoteEPC on stdin/stdout; the program then gets the descriptors named by --program-stdout and
/// --program-stdin (what "run --oop" passes), or stderr and /dev/null. --listen HOST:PORT serves one TCP
/// connection. Crash reports go to --crash-report-fd (or stderr); --no-backtrace leaves crashes alone.
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
        bool stdio = false;
        string? listen = null;
        int programStdout = -1, programStdin = -1, crashReportFd = -1;
        bool noBacktrace = false;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new LinkError($"option {args[i]} needs a value");
            int Fd() => int.TryParse(Value(), out int fd) && fd >= 0 ? fd : throw new LinkError($"option {args[i - 1]} needs a descriptor number");
            switch (args[i])
            {
                case "--stdio": stdio = true; break;
                case "--listen": listen = Value(); break;
                case "--program-stdout": programStdout = Fd(); break;
                case "--program-stdin": programStdin = Fd(); break;
                case "--crash-report-fd": crashReportFd = Fd(); break;
                case "--no-backtrace": noBacktrace = true; break;
                default: throw new LinkError($"unknown executor option '{args[i]}'");
            }
        }
        if (stdio == (listen is not null)) throw new LinkError("executor needs exactly one of --stdio or --listen HOST:PORT");
        SimpleRemoteTransport transport;
        if (stdio)
        {
            // The transport moves off 0 and 1 so the program's stdio can take them.
            int inFd = fcntl(0, FDupfdCloexec, 10), outFd = fcntl(1, FDupfdCloexec, 10);
            if (inFd < 0 || outFd < 0) throw new LinkError("executor: stdin and stdout must be open");
            if (programStdout >= 0) { dup2(programStdout, 1); close(programStdout); } else dup2(2, 1);
            if (programStdin >= 0) { dup2(programStdin, 0); close(programStdin); }
            else { int devNull = open("/dev/null", 0); if (devNull >= 0) { dup2(devNull, 0); close(devNull); } }
            transport = new SimpleRemoteTransport(new FileStream(new SafeFileHandle(inFd, true), FileAccess.Read, 1 << 16),
                new FileStream(new SafeFileHandle(outFd, true), FileAccess.Write, 1));
        }
        else
        {
            int colon = listen!.LastIndexOf(':');
            if (colon <= 0 || !IPAddress.TryParse(listen[..colon], out var ip) || !int.TryParse(listen[(colon + 1)..], out int port) || port is < 0 or > 65535)
                throw new LinkError($"bad listen address '{listen}' (expected IP:PORT)");
            var listener = new TcpListener(ip, port);
            try { listener.Start(1); }
            catch (SocketException e) { throw new LinkError($"cannot listen on {listen}: {e.Message}"); }
            Console.Error.WriteLine($"orcsharp executor: listening on {listener.LocalEndpoint}");
            var client = listener.AcceptTcpClient();
            listener.Stop();
            client.NoDelay = true;
            var stream = client.GetStream();
            transport = new SimpleRemoteTransport(stream, stream);
        }
        InstallCrashReport(noBacktrace, crashReportFd);
        return new SimpleRemoteExecutorServer(transport, Console.Error).Run();
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
