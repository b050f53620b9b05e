using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace OrcSharp.Shared;

/// <summary>
/// One input read whole: a regular file (mapped or read, with an identity that says when it changed), or
/// a stream (a pipe, a FIFO, a terminal, "-" for standard input, /dev/stdin, a bash process substitution
/// such as &lt;(gcc -c -o - x.c)) read to its end. Anything else is one clear <see cref="LinkError"/>:
/// a directory is reported as such; a FIFO that no process opens for writing within
/// <see cref="WriterWait"/> is an error rather than a wait forever; a stream whose first bytes are no
/// input format (/dev/zero, /dev/urandom) is refused at once rather than read to the size limit.
/// </summary>
public sealed partial class InputFile
{
    /// <summary>How long a FIFO may go without a writer. A writer that holds it open but is slow (a
    /// compiler in a process substitution) is waited for as long as it takes, as cat would.</summary>
    public static readonly TimeSpan WriterWait = TimeSpan.FromSeconds(10);

    /// <summary>The path as given ("-" for standard input).</summary>
    public string Path { get; }
    public ReadOnlyMemory<byte> Bytes { get; }
    /// <summary>Device, inode, size and modification time of a regular file; null for a stream.</summary>
    public (ulong Device, ulong Inode, long Size, long ModifiedNs)? Identity { get; }
    public bool IsStream => Identity is null;

    /// <summary>Whether this process has read any input from a stream: such input cannot be read again
    /// by a restarted process.</summary>
    public static bool AnyStreamRead => !Streams.IsEmpty;

    InputFile(string path, ReadOnlyMemory<byte> bytes, (ulong, ulong, long, long)? identity)
    {
        Path = path; Bytes = bytes; Identity = identity;
    }

    /// <summary>Bytes already in memory, treated like a stream (no identity, never cached by path).</summary>
    public static InputFile FromMemory(string name, ReadOnlyMemory<byte> bytes) => new(name, bytes, null);

    const long MapThreshold = 256 << 10;
    /// <summary>Streams read so far, by path: a pipe cannot be read twice, so a second read of the same
    /// path in this process (a link started over) gets the same bytes.</summary>
    static readonly ConcurrentDictionary<string, ReadOnlyMemory<byte>> Streams = new(StringComparer.Ordinal);

    /// <summary>The file's bytes; a <see cref="LinkError"/> naming the file if it cannot be read.</summary>
    public static InputFile Read(string path)
    {
        if (Streams.TryGetValue(path, out var seen)) return new InputFile(path, seen, null);
        if (path == "-") return ReadStream(path, 0, ownsDescriptor: false);
        int fd = Open(path, OpenReadOnly | OpenNonBlocking | OpenCloseOnExec);
        if (fd < 0) throw new LinkError($"{path}: cannot read: {Marshal.GetLastPInvokeErrorMessage()}");
        bool handedOver = false;
        try
        {
            if (FileStatus.Get(fd) is not { } st) throw new LinkError($"{path}: cannot read: {Marshal.GetLastPInvokeErrorMessage()}");
            if (st.IsDirectory) throw new LinkError($"{path}: cannot read: is a directory");
            handedOver = true;
            return st.IsRegular ? ReadRegular(path, new SafeFileHandle(fd, ownsHandle: true), st)
                : ReadStream(path, fd, ownsDescriptor: true, isFifo: st.IsFifo);
        }
        finally { if (!handedOver) Close(fd); }
    }

    /// <summary>The first bytes of a regular file (up to <paramref name="maxBytes"/>), to tell what it is
    /// without mapping or reading all of it: libraries found by a search are classified this way. Anything
    /// but a regular file is an error at once (no wait for a FIFO's writer).</summary>
    public static byte[] ReadHead(string path, int maxBytes)
    {
        int fd = Open(path, OpenReadOnly | OpenNonBlocking | OpenCloseOnExec);
        if (fd < 0) throw new LinkError($"{path}: cannot read: {Marshal.GetLastPInvokeErrorMessage()}");
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (FileStatus.Get(fd) is not { } st) throw new LinkError($"{path}: cannot read: {Marshal.GetLastPInvokeErrorMessage()}");
        if (st.IsDirectory) throw new LinkError($"{path}: cannot read: is a directory");
        if (!st.IsRegular) throw new LinkError($"{path}: not a regular file");
        try
        {
            var head = new byte[(int)Math.Min(st.Size, maxBytes)];
            int done = 0, n;
            while (done < head.Length && (n = RandomAccess.Read(handle, head.AsSpan(done), done)) > 0) done += n;
            return done == head.Length ? head : head[..done];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new LinkError($"{path}: cannot read: {e.Message}"); }
    }

    static InputFile ReadRegular(string path, SafeFileHandle handle, FileStatus st)
    {
        using (handle)
        {
            try
            {
                long length = RandomAccess.GetLength(handle);
                if (length > LinkLimits.MaxInputBytes) throw new LinkError($"{path}: cannot read: larger than 2 GiB");
                var identity = (st.Device, st.Inode, length, (long)st.ModifiedNs);
                // Mapping costs a few system calls and a view object; small files are cheaper to read.
                if (length < MapThreshold)
                {
                    var bytes = new byte[length];
                    int done = 0;
                    while (done < bytes.Length)
                    {
                        int n = RandomAccess.Read(handle, bytes.AsSpan(done), done);
                        if (n == 0) throw new LinkError($"{path}: cannot read: file shrank while reading");
                        done += n;
                    }
                    return new InputFile(path, bytes, identity);
                }
                return new InputFile(path, MappedFile.Map(handle, (int)length), identity);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new LinkError($"{path}: cannot read: {e.Message}");
            }
        }
    }

    /// <summary>Reads a stream to its end (non-blocking descriptor: a FIFO without a writer reads as
    /// end-of-file at once, so whether a writer ever came can be told from "no data yet").</summary>
    static InputFile ReadStream(string path, int fd, bool ownsDescriptor, bool isFifo = false)
    {
        try
        {
            var buffer = new byte[64 << 10];
            int length = 0;
            bool writerSeen = !isFifo, checkedFormat = false;
            var writerDeadline = DateTime.UtcNow + WriterWait;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length >= LinkLimits.MaxInputBytes) throw new LinkError($"{path}: cannot read: larger than 2 GiB");
                    Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, LinkLimits.MaxInputBytes));
                }
                long n = ReadSome(fd, buffer.AsSpan(length));
                if (n > 0)
                {
                    length += (int)n;
                    writerSeen = true;
                    if (!checkedFormat && length >= FormatProbeLength) { CheckFormat(path, buffer.AsSpan(0, length)); checkedFormat = true; }
                    continue;
                }
                if (n == 0)
                {
                    if (writerSeen) break;
                    // A FIFO nobody has opened for writing yet: wait (boundedly) for a writer's data or hang-up.
                    var left = writerDeadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero)
                        throw new LinkError($"{path}: cannot read: no process opened the FIFO for writing within {WriterWait.TotalSeconds:0} s");
                    int ready = Poll(fd, (int)Math.Ceiling(left.TotalMilliseconds));
                    if (ready > 0) writerSeen = true; // data, or a writer that came and went
                    continue;
                }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                if (errno == EAGAIN) { writerSeen = true; Poll(fd, -1); continue; } // a writer that has not written yet
                throw new LinkError($"{path}: cannot read: {Marshal.GetLastPInvokeErrorMessage()}");
            }
            if (length == 0) throw new LinkError($"{path}: cannot read: it is empty");
            if (!checkedFormat) CheckFormat(path, buffer.AsSpan(0, length));
            var bytes = buffer.AsMemory(0, length);
            Streams[path] = bytes;
            return new InputFile(path, bytes, null);
        }
        finally { if (ownsDescriptor) Close(fd); }
    }

    const int FormatProbeLength = 8;

    /// <summary>Stops endless or binary junk early: an input is an ELF file, an archive, or text (an ld
    /// script or a source).</summary>
    static void CheckFormat(string path, ReadOnlySpan<byte> head)
    {
        if (head.StartsWith("\u007fELF"u8) || head.StartsWith("!<arch>\n"u8) || head.StartsWith("!<thin>\n"u8)) return;
        foreach (byte b in head[..Math.Min(head.Length, 512)])
            if (b == 0 || (b < 0x20 && b is not (9 or 10 or 12 or 13)))
                throw new LinkError($"{path}: file format not recognized (expected an ELF object, archive, linker script or source)");
    }

    const int OpenReadOnly = 0, OpenNonBlocking = 0x800, OpenCloseOnExec = 0x80000;
    const int EINTR = 4, EAGAIN = 11;

    static unsafe long ReadSome(int fd, Span<byte> into)
    {
        // In bounds: read writes at most into.Length bytes at the span's start.
        fixed (byte* p = into) return (long)ReadNative(fd, p, (nuint)into.Length);
    }

    static unsafe int Poll(int fd, int timeoutMs)
    {
        const short PollIn = 1;
        long pollfd = (uint)fd | ((long)PollIn << 32); // struct pollfd { int fd; short events; short revents; }
        return PollNative(&pollfd, 1, timeoutMs);
    }

    [LibraryImport("libc.so.6", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
    [LibraryImport("libc.so.6", EntryPoint = "close")] private static partial int Close(int fd);
    [LibraryImport("libc.so.6", EntryPoint = "read", SetLastError = true)] private static unsafe partial nint ReadNative(int fd, byte* buf, nuint count);
    [LibraryImport("libc.so.6", EntryPoint = "poll", SetLastError = true)] private static unsafe partial int PollNative(long* fds, nuint count, int timeoutMs);
}
