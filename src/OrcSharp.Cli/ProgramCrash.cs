using System.Runtime.InteropServices;
using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Cli;

/// <summary>
/// How a crash of the program reaches the user when it ran in a child executor: the executor writes its
/// crash report into a pipe (<see cref="ReportPipe"/>), and once it has died this process prints its one
/// error line, then the report, then ends by the same signal, so the exit status is the native program's.
/// </summary>
static partial class ProgramCrash
{
    [LibraryImport("libc.so.6", SetLastError = true)] private static unsafe partial int pipe2(int* fds, int flags);
    [LibraryImport("libc.so.6")] private static partial int close(int fd);
    [LibraryImport("libc.so.6", SetLastError = true)] private static unsafe partial nint read(int fd, byte* buf, nuint count);
    [LibraryImport("libc.so.6")] private static partial int kill(int pid, int sig);
    [LibraryImport("libc.so.6")] private static partial int fcntl(int fd, int cmd, int arg);
    [LibraryImport("libc.so.6")] private static unsafe partial int setrlimit(int resource, ulong* limit);
    [LibraryImport("libc.so.6")] private static unsafe partial int sigaction(int sig, void* act, void* old);
    [LibraryImport("libc.so.6")] private static unsafe partial int sigprocmask(int how, ulong* set, ulong* old);
    const int OCloexec = 0x80000, ONonblock = 0x800, FDupfd = 0, RlimitCore = 4, SigUnblock = 1;

    /// <summary>The pipe a child executor writes its crash report into: the write end is inherited by the
    /// child (pass <see cref="WriteFd"/> as --crash-report-fd), the read end stays here.</summary>
    public sealed unsafe class ReportPipe : IDisposable
    {
        int _read, _write;
        public int WriteFd => _write;

        ReportPipe(int read, int write) { _read = read; _write = write; }

        public static ReportPipe? Create()
        {
            int* fds = stackalloc int[2];
            if (pipe2(fds, OCloexec | ONonblock) != 0) return null;
            // The child's end: a duplicate without close-on-exec. Both ends are non-blocking, so a report
            // larger than the pipe is cut short rather than hanging the crashing executor.
            int inheritable = fcntl(fds[1], FDupfd, 100); // clear of the descriptors the spawn rearranges
            close(fds[1]);
            if (inheritable < 0) { close(fds[0]); return null; }
            return new ReportPipe(fds[0], inheritable);
        }

        /// <summary>Closes this process's copy of the write end (once the child has its own).</summary>
        public void ChildStarted()
        {
            if (_write >= 0) close(_write);
            _write = -1;
        }

        /// <summary>What the child wrote (it has died, so this does not wait).</summary>
        public string ReadReport()
        {
            var text = new MemoryStream();
            byte* buf = stackalloc byte[4096];
            for (nint n; (n = read(_read, buf, 4096)) > 0;) text.Write(new ReadOnlySpan<byte>(buf, (int)n));
            return Encoding.UTF8.GetString(text.ToArray());
        }

        public void Dispose()
        {
            ChildStarted();
            if (_read >= 0) close(_read);
            _read = -1;
        }
    }

    /// <summary>Ends this process by <paramref name="signal"/> (default action, no core file of its own:
    /// the program's core, if any, came from the executor). Returns only if the signal did not end it.</summary>
    public static unsafe void EndBy(int signal)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        ulong* noCore = stackalloc ulong[2];
        noCore[0] = noCore[1] = 0;
        setrlimit(RlimitCore, noCore);
        byte* action = stackalloc byte[256]; // struct sigaction: SIG_DFL handler, empty mask, no flags
        new Span<byte>(action, 256).Clear();
        sigaction(signal, action, null);
        ulong set = 1UL << (signal - 1);
        sigprocmask(SigUnblock, &set, null);
        kill(Environment.ProcessId, signal);
    }
}
