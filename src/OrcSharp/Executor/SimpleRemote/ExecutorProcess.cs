using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using OrcSharp.Shared;

namespace OrcSharp.Executor.SimpleRemote;

/// <summary>
/// A child executor process ("orcsharp executor --stdio") connected by two pipes on its stdin and stdout.
/// The program it runs gets this process's real stdin, stdout and stderr (passed as descriptors 3 and 4
/// plus an inherited 2), so output reaches the user as it would in process. Its exit status or the
/// signal that ended it is known to the controller.
/// </summary>
public sealed unsafe partial class ExecutorProcess : IDisposable
{
    const string Lib = "libc.so.6";
    [LibraryImport(Lib, SetLastError = true)] private static partial int pipe2(int* fds, int flags);
    [LibraryImport(Lib)] private static partial int posix_spawn_file_actions_init(void* fa);
    [LibraryImport(Lib)] private static partial int posix_spawn_file_actions_adddup2(void* fa, int fd, int newfd);
    [LibraryImport(Lib)] private static partial int posix_spawn_file_actions_addclose(void* fa, int fd);
    [LibraryImport(Lib)] private static partial int posix_spawn_file_actions_destroy(void* fa);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] private static partial int posix_spawn(int* pid, string path, void* fa, void* attr, nint* argv, nint* envp);
    [LibraryImport(Lib, SetLastError = true)] private static partial int waitpid(int pid, int* status, int options);
    [LibraryImport(Lib)] private static partial int kill(int pid, int sig);
    [LibraryImport(Lib)] private static partial int close(int fd);
    const int OCloexec = 0x80000, WNoHang = 1, SigKill = 9;

    readonly int _pid;
    int? _waitStatus;
    public int Id => _pid;
    public Stream ToExecutor { get; }
    public Stream FromExecutor { get; }

    ExecutorProcess(int pid, int toFd, int fromFd)
    {
        _pid = pid;
        ToExecutor = new FileStream(new SafeFileHandle(toFd, true), FileAccess.Write, 1);
        FromExecutor = new FileStream(new SafeFileHandle(fromFd, true), FileAccess.Read, 1 << 16);
    }

    /// <summary>Starts <paramref name="executable"/> with <paramref name="arguments"/> (after argv[0]) and
    /// the extra environment variables given: the controller's messages on its stdin, its answers on its
    /// stdout, the program's stdout and stdin on 3 and 4.</summary>
    public static ExecutorProcess Start(string executable, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null) =>
        Spawn(executable, [executable, .. arguments], environment, readFd: 0, writeFd: 1, programStdioTo3And4: true);

    /// <summary>The descriptors an executor started by <see cref="StartWithFileDescriptors"/> reads and writes.</summary>
    const int ChildReadFd = 3, ChildWriteFd = 4;

    /// <summary>Starts <paramref name="executable"/> as llvm-jitlink starts an executor: its only argument is
    /// "filedescs=3,4" (reading the controller's messages on 3, writing on 4); stdin, stdout and stderr are
    /// this process's, for the program.</summary>
    public static ExecutorProcess StartWithFileDescriptors(string executable) =>
        Spawn(executable, [executable, $"filedescs={ChildReadFd},{ChildWriteFd}"], null, ChildReadFd, ChildWriteFd, programStdioTo3And4: false);

    /// <summary>posix_spawn with the controller's pipes on <paramref name="readFd"/> and <paramref name="writeFd"/>
    /// in the child (and this process's stdout and stdin on 3 and 4 first, when asked).</summary>
    static ExecutorProcess Spawn(string executable, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string>? environment,
        int readFd, int writeFd, bool programStdioTo3And4)
    {
        // In bounds: pipe() writes two descriptors into each pair.
        int* toChild = stackalloc int[2];
        int* fromChild = stackalloc int[2];
        if (pipe2(toChild, OCloexec) != 0 || pipe2(fromChild, OCloexec) != 0)
            throw new LinkError($"cannot create pipes for the executor: {Marshal.GetLastPInvokeErrorMessage()}");
        var fa = stackalloc byte[256]; // posix_spawn_file_actions_t is 80 bytes in glibc
        posix_spawn_file_actions_init(fa);
        // The pipe ends first move out of the way (they may be 3 or 4 here), then (when asked) the program's
        // stdout and stdin go to 3 and 4, then the pipes take their places (dup2 clears close-on-exec).
        var pipes = new[] { toChild[0], toChild[1], fromChild[0], fromChild[1] };
        int tmpIn = 200, tmpOut;
        while (pipes.Contains(tmpIn)) tmpIn++;
        tmpOut = tmpIn + 1;
        while (pipes.Contains(tmpOut)) tmpOut++;
        posix_spawn_file_actions_adddup2(fa, toChild[0], tmpIn);
        posix_spawn_file_actions_adddup2(fa, fromChild[1], tmpOut);
        if (programStdioTo3And4)
        {
            posix_spawn_file_actions_adddup2(fa, 1, 3);
            posix_spawn_file_actions_adddup2(fa, 0, 4);
        }
        posix_spawn_file_actions_adddup2(fa, tmpIn, readFd);
        posix_spawn_file_actions_adddup2(fa, tmpOut, writeFd);
        posix_spawn_file_actions_addclose(fa, tmpIn);
        posix_spawn_file_actions_addclose(fa, tmpOut);

        var argvPtrs = NativeStrings.ToArray(argv);
        var envPtrs = NativeStrings.ToArray(NativeStrings.Environment(environment));
        int pid, rc;
        try
        {
            fixed (nint* a = argvPtrs) fixed (nint* e = envPtrs) rc = posix_spawn(&pid, executable, fa, null, a, e);
        }
        finally
        {
            posix_spawn_file_actions_destroy(fa);
            NativeStrings.Free(argvPtrs);
            NativeStrings.Free(envPtrs);
            close(toChild[0]);
            close(fromChild[1]);
        }
        if (rc != 0)
        {
            close(toChild[1]); close(fromChild[0]);
            throw new LinkError($"cannot start the executor {executable}: {Marshal.GetPInvokeErrorMessage(rc)}");
        }
        return new ExecutorProcess(pid, toChild[1], fromChild[0]);
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for the process to end; returns its raw wait
    /// status, or null if it is still running.</summary>
    public int? Wait(int timeoutMs)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (_waitStatus is null)
        {
            int status;
            int r = waitpid(_pid, &status, WNoHang);
            if (r == _pid) { _waitStatus = status; break; }
            if (r < 0) { _waitStatus = 0; break; }
            if (Environment.TickCount64 >= deadline) return null;
            Thread.Sleep(1);
        }
        return _waitStatus;
    }

    /// <summary>"exited with status N" or "terminated by signal SIGSEGV", from a wait status.</summary>
    public static string Describe(int status) =>
        ExitCode(status) is { } code ? $"exited with status {code}" : $"terminated by signal {SignalName(status & 0x7f)}";

    /// <summary>The exit status from a wait status, or null when a signal ended the process.</summary>
    public static int? ExitCode(int status) => (status & 0x7f) == 0 ? (status >> 8) & 0xff : null;

    /// <summary>The signal that ended the process, from a wait status, or null when it exited.</summary>
    public static int? TerminatingSignal(int status) => (status & 0x7f) is not (0 or 0x7f) ? status & 0x7f : null;

    static string SignalName(int sig) => sig switch
    {
        1 => "SIGHUP", 2 => "SIGINT", 3 => "SIGQUIT", 4 => "SIGILL", 5 => "SIGTRAP", 6 => "SIGABRT", 7 => "SIGBUS",
        8 => "SIGFPE", 9 => "SIGKILL", 10 => "SIGUSR1", 11 => "SIGSEGV", 12 => "SIGUSR2", 13 => "SIGPIPE",
        14 => "SIGALRM", 15 => "SIGTERM", 24 => "SIGXCPU", 25 => "SIGXFSZ", 31 => "SIGSYS", _ => $"{sig}",
    };

    public void Kill()
    {
        if (_waitStatus is null) kill(_pid, SigKill);
    }

    public void Dispose()
    {
        try { ToExecutor.Dispose(); } catch (IOException) { }
        if (Wait(2000) is null) { Kill(); Wait(2000); }
        try { FromExecutor.Dispose(); } catch (IOException) { }
    }
}
