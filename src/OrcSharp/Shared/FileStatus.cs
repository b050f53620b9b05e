using System.Runtime.InteropServices;

namespace OrcSharp.Shared;

/// <summary>What stat(2) says of a file: enough to tell that it changed (device, inode, size, modification
/// time in nanoseconds) and what kind of file it is. Straight libc calls: paths on hot start-up paths are
/// checked by the dozen, and the managed file APIs cost several times more per call.</summary>
public readonly record struct FileStatus(long Size, Int128 ModifiedNs, ulong Inode, bool IsDirectory, ulong Device = 0, uint FileType = 0)
{
    // struct stat on Linux x86-64 and the generic layout AArch64 uses agree on these offsets.
    const int StatSize = 256, DeviceOffset = 0, InodeOffset = 8, SizeOffset = 48, MtimeOffset = 88;
    const int ModeOffsetX64 = 24, ModeOffsetGeneric = 16;
    const uint ModeTypeMask = 0xf000, ModeDirectory = 0x4000, ModeRegular = 0x8000, ModeFifo = 0x1000;

    /// <summary>A regular file (not a pipe, FIFO, socket, device or directory).</summary>
    public bool IsRegular => FileType == ModeRegular;
    public bool IsFifo => FileType == ModeFifo;

    [DllImport("libc.so.6", EntryPoint = "stat")]
    static extern unsafe int stat_(byte* path, byte* buf);
    [DllImport("libc.so.6", EntryPoint = "fstat")]
    static extern unsafe int fstat_(int fd, byte* buf);

    /// <summary>The status of <paramref name="path"/> (symbolic links followed), or null if it does not exist.</summary>
    public static unsafe FileStatus? Get(string path)
    {
        int n = System.Text.Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> name = n <= 1024 ? stackalloc byte[n] : new byte[n];
        int len = System.Text.Encoding.UTF8.GetBytes(path, name);
        name[len] = 0;
        byte* buf = stackalloc byte[StatSize]; // in bounds: struct stat is 144 bytes (x86-64), 128 (AArch64)
        fixed (byte* p = name)
            if (stat_(p, buf) != 0) return null;
        return From(buf);
    }

    /// <summary>The status of an open descriptor, or null (errno set) if fstat fails.</summary>
    public static unsafe FileStatus? Get(int fd)
    {
        byte* buf = stackalloc byte[StatSize];
        return fstat_(fd, buf) != 0 ? null : From(buf);
    }

    static unsafe FileStatus From(byte* buf)
    {
        uint mode = *(uint*)(buf + (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? ModeOffsetX64 : ModeOffsetGeneric));
        long sec = *(long*)(buf + MtimeOffset), nsec = *(long*)(buf + MtimeOffset + 8);
        return new FileStatus(*(long*)(buf + SizeOffset), (Int128)sec * 1_000_000_000 + nsec, *(ulong*)(buf + InodeOffset),
            (mode & ModeTypeMask) == ModeDirectory, *(ulong*)(buf + DeviceOffset), mode & ModeTypeMask);
    }
}
