using System.Runtime.InteropServices;

namespace OrcSharp.Shared;

/// <summary>What stat(2) says of a file: enough to tell that it changed (size, modification time in
/// nanoseconds, inode). Straight libc calls: paths on hot start-up paths are checked by the dozen, and the
/// managed file APIs cost several times more per call.</summary>
public readonly record struct FileStatus(long Size, Int128 ModifiedNs, ulong Inode, bool IsDirectory)
{
    // struct stat on Linux x86-64 and the generic layout AArch64 uses agree on these offsets.
    const int StatSize = 256, InodeOffset = 8, SizeOffset = 48, MtimeOffset = 88;
    const int ModeOffsetX64 = 24, ModeOffsetGeneric = 16;
    const uint ModeTypeMask = 0xf000, ModeDirectory = 0x4000;

    [DllImport("libc.so.6", EntryPoint = "stat")]
    static extern unsafe int stat_(byte* path, byte* buf);

    /// <summary>The status of <paramref name="path"/> (symbolic links followed), or null if it does not exist.</summary>
    public static unsafe FileStatus? Get(string path)
    {
        int n = System.Text.Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> name = n <= 1024 ? stackalloc byte[n] : new byte[n];
        int len = System.Text.Encoding.UTF8.GetBytes(path, name);
        name[len] = 0;
        byte* buf = stackalloc byte[StatSize];
        fixed (byte* p = name)
            if (stat_(p, buf) != 0) return null;
        uint mode = *(uint*)(buf + (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? ModeOffsetX64 : ModeOffsetGeneric));
        long sec = *(long*)(buf + MtimeOffset), nsec = *(long*)(buf + MtimeOffset + 8);
        return new FileStatus(*(long*)(buf + SizeOffset), (Int128)sec * 1_000_000_000 + nsec, *(ulong*)(buf + InodeOffset),
            (mode & ModeTypeMask) == ModeDirectory);
    }
}
