using System.Runtime.InteropServices;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>The few libc entry points the executor side needs (memory mapping, dynamic loading).
/// Since glibc 2.34 the dl* functions live in libc.so.6 itself.</summary>
internal static unsafe partial class LibC
{
    const string Lib = "libc.so.6";

    public const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    public const int MapPrivate = 0x02, MapFixed = 0x10, MapAnonymous = 0x20, Map32Bit = 0x40,
        MapNoReserve = 0x4000, MapPopulate = 0x8000, MapFixedNoReplace = 0x100000;
    public const int RtldLazy = 1, RtldNow = 2, RtldNoload = 4, RtldLocal = 0, RtldGlobal = 0x100;
    public const uint MfdCloexec = 1;
    public static readonly nint MapFailed = -1;

    // Binds dlerror before any dlopen: binding it lazily after a failure would go through the loader
    // and clear the very message it is asked for. Callers read the message right after the failure.
    static LibC() => dlerror();

    [LibraryImport(Lib, SetLastError = true)] public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
    [LibraryImport(Lib, SetLastError = true)] public static partial int munmap(nint addr, nuint length);
    [LibraryImport(Lib, SetLastError = true)] public static partial int mprotect(nint addr, nuint length, int prot);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial nint dlopen(string? file, int mode);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial nint dlsym(nint handle, string name);
    [LibraryImport(Lib)] public static partial nint dlsym(nint handle, byte* name);
    [LibraryImport(Lib)] public static partial nint dlerror();
    [LibraryImport(Lib)] public static partial int dlclose(nint handle);
    [LibraryImport(Lib)] public static partial int dlinfo(nint handle, int request, void* info);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int memfd_create(string name, uint flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint write(int fd, void* buf, nuint count);
    [LibraryImport(Lib)] public static partial int close(int fd);
    [LibraryImport(Lib, SetLastError = true)] public static partial int dup(int fd);
    [LibraryImport(Lib)] public static partial int getpagesize();
    [LibraryImport(Lib)] public static partial ulong getauxval(ulong type);
    [LibraryImport(Lib)] public static partial void exit(int status);
    [LibraryImport(Lib)] public static partial int fflush(nint stream);
    [LibraryImport(Lib)] public static partial int dl_iterate_phdr(delegate* unmanaged<DlPhdrInfo*, nuint, nint, int> callback, nint data);
    /// <summary>Instruction-cache maintenance after writing code (a no-op need on x86-64); libgcc has it.</summary>
    [LibraryImport("libgcc_s.so.1")] public static partial void __clear_cache(nint begin, nint end);

    static nint _handle;

    /// <summary>A libc symbol by name (for the functions JIT'd programs' start and exit go through).</summary>
    public static nint Symbol(string name)
    {
        if (_handle == 0) _handle = dlopen("libc.so.6", RtldNow);
        return dlsym(_handle, name);
    }

    public static string LastDlError()
    {
        nint p = dlerror();
        return p == 0 ? "unknown dynamic loader error" : Marshal.PtrToStringUTF8(p) ?? "";
    }

    public static string ErrnoText() => Marshal.GetLastPInvokeErrorMessage();
}

/// <summary>struct dl_phdr_info (link.h): what dl_iterate_phdr reports for each loaded object.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DlPhdrInfo
{
    public ulong Addr;
    public nint Name;
    public nint Phdr;
    public ushort PhNum;
    public ulong Adds, Subs;
    public nuint TlsModid;
    public nint TlsData;
}

/// <summary>Elf64_Phdr.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ElfProgramHeader
{
    public uint Type, Flags;
    public ulong Offset, VAddr, PAddr, FileSz, MemSz, Align;
}
