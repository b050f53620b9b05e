using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor side of shared segment memory (an OrcSharp extension, in the spirit of LLVM's
/// SharedMemoryMapper): a controller on the same machine writes a link's segments into a memfd of its own,
/// and the first finalize action maps that memfd over the segments here, each with its protection, so the
/// bytes never go through the pipe. Offered (bootstrap map key <see cref="BootstrapKey"/>, value: this
/// machine's boot id) only to the parent that started this executor on pipes; the action opens the memfd
/// through /proc/PARENT/fd/N and checks that it is one.
/// </summary>
/// <remarks>Argument (SPS): controller pid (u64), memfd number (u64), then a sequence of segments
/// (address, memfd offset, size, protection as u8). Each segment must lie in reserved address space.</remarks>
public static unsafe partial class SharedSegmentRuntime
{
    public const string BootstrapKey = "orcsharp.shared_segment_memory";
    /// <summary>The name the controller gives its memfd (shown by the kernel as "/memfd:NAME (deleted)").</summary>
    public const string MemfdName = "orcsharp-segments";

    /// <summary>This machine's boot id: equal on both sides only when they share a kernel.</summary>
    public static string BootId()
    {
        try { return File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }

    public static byte[] Offer() => new SpsWriter().String(BootId()).ToArray();

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult MapWrapper(byte* arg, nuint size)
    {
        string? error = null;
        try { Map(new SpsReader(new ReadOnlySpan<byte>(arg, checked((int)size)))); }
        catch (LinkError e) { error = e.Message; }
        return CWrapperFunctionResult.From(new SpsWriter().Error(error).WrittenSpan);
    }

    static void Map(SpsReader r)
    {
        ulong pid = r.U64(), fdNumber = r.U64();
        int parent = getppid();
        if (pid != (ulong)parent || fdNumber > int.MaxValue)
            throw new LinkError($"shared segment memory: process {pid} is not this executor's parent");
        string path = $"/proc/{parent}/fd/{fdNumber}";
        string? target = null;
        try { target = new FileInfo(path).LinkTarget; } catch (IOException) { }
        if (target is null || !target.StartsWith("/memfd:" + MemfdName, StringComparison.Ordinal))
            throw new LinkError($"shared segment memory: {path} is not the controller's segment memory");
        int fd = open(path, OpenReadWrite | OpenCloseOnExec);
        if (fd < 0) throw new LinkError($"shared segment memory: cannot open {path}: {LibC.ErrnoText()}");
        try
        {
            long fileSize = lseek(fd, 0, SeekEnd);
            ulong pageSize = ExecutorMemory.PageSize;
            var segments = new (ExecutorAddr Address, ulong Offset, ulong Size, MemProt Prot)[r.Count(25)];
            for (int i = 0; i < segments.Length; i++) segments[i] = (r.Addr(), r.U64(), r.U64(), (MemProt)r.U8());
            // Everything checked before anything is mapped.
            foreach (var (address, offset, length, _) in segments)
            {
                ulong pages = (length + pageSize - 1) & ~(pageSize - 1);
                if (address.Value % pageSize != 0 || offset % pageSize != 0 || length == 0 || offset + pages < offset ||
                    offset + pages > (ulong)fileSize || !ExecutorAddressSpace.IsReserved(address, pages))
                    throw new LinkError($"shared segment memory: segment at {address} ({length} bytes at offset {offset}) is not in reserved memory or not in the memfd");
            }
            foreach (var (address, offset, length, prot) in segments)
            {
                ulong pages = (length + pageSize - 1) & ~(pageSize - 1);
                int p = ((prot & MemProt.Read) != 0 ? LibC.ProtRead : 0) | ((prot & MemProt.Write) != 0 ? LibC.ProtWrite : 0) |
                        ((prot & MemProt.Exec) != 0 ? LibC.ProtExec : 0);
                // Private: the controller's bytes are final before this action runs, so the executor sees
                // them either way; a private mapping is also what debuggers need, since ptrace may write a
                // breakpoint into a private mapping (copy on write) but not into a shared one it cannot write.
                if (LibC.mmap((nint)address.Value, (nuint)pages, p, LibC.MapPrivate | LibC.MapFixed, fd, (nint)offset) == LibC.MapFailed)
                    throw new LinkError($"shared segment memory: cannot map segment at {address}: {LibC.ErrnoText()}");
                // Code written through another mapping: the instruction cache must see it (not needed on x86-64).
                if ((prot & MemProt.Exec) != 0 && RuntimeInformation.ProcessArchitecture != Architecture.X64)
                    LibC.__clear_cache((nint)address.Value, (nint)(address.Value + length));
            }
        }
        finally { LibC.close(fd); }
    }

    const int OpenReadWrite = 2, OpenCloseOnExec = 0x80000, SeekEnd = 2;

    [LibraryImport("libc.so.6")] private static partial int getppid();
    [LibraryImport("libc.so.6", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int open(string path, int flags);
    [LibraryImport("libc.so.6", SetLastError = true)] private static partial long lseek(int fd, long offset, int whence);
}
