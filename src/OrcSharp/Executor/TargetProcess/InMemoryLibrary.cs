using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Loads a shared object that exists only in memory: written to an anonymous file (memfd) and opened
/// by the dynamic loader through /proc/PID/fd, then the descriptor is closed again (the mapping keeps
/// the file alive). Nothing touches the file system. The path names the process by its id, not
/// /proc/self: a debugger reads the new object's name from the loader when dlopen notifies it, and opens
/// it in its own process, where /proc/self/fd/N is one of its own descriptors (GDB then blocks reading
/// its own pipe); /proc/PID/fd/N is the object itself.
/// </summary>
public static unsafe class InMemoryLibrary
{
    /// <summary>Loads <paramref name="file"/> with dlopen <paramref name="mode"/>. Returns the handle, or 0
    /// with the loader's message in <paramref name="error"/>.</summary>
    public static nint Load(ReadOnlySpan<byte> file, string name, int mode, out string? error) => Load(file, name, mode, out error, out _);

    /// <summary>Loads <paramref name="file"/>; <paramref name="path"/> is the name the loader knows it by
    /// (dlopen with RTLD_NOLOAD finds it by that name while it stays loaded).</summary>
    public static nint Load(ReadOnlySpan<byte> file, string name, int mode, out string? error, out string path)
    {
        error = null;
        int fd = LibC.memfd_create(name, LibC.MfdCloexec);
        if (fd < 0) throw new LinkError($"executor: memfd_create failed: {LibC.ErrnoText()}");
        var held = new List<int>();
        try
        {
            fixed (byte* p = file)
            {
                nint done = 0;
                while (done < file.Length)
                {
                    nint n = LibC.write(fd, p + done, (nuint)(file.Length - done));
                    if (n <= 0) throw new LinkError($"executor: writing the in-memory library {name} failed: {LibC.ErrnoText()}");
                    done += n;
                }
            }
            // The loader recognizes objects by name before it looks at the file, so a name that an object
            // still loaded has used (same descriptor number, earlier memfd) must not be reused.
            path = $"/proc/{Environment.ProcessId}/fd/{fd}";
            for (nint old; (old = LibC.dlopen(path, LibC.RtldLazy | LibC.RtldNoload)) != 0;)
            {
                LibC.dlclose(old);
                held.Add(fd);
                fd = LibC.dup(fd);
                if (fd < 0) throw new LinkError($"executor: dup failed: {LibC.ErrnoText()}");
                path = $"/proc/{Environment.ProcessId}/fd/{fd}";
            }
            nint handle = LibC.dlopen(path, mode);
            // Read the message before any other native call: binding one lazily goes through the loader.
            if (handle == 0) error = LibC.LastDlError();
            return handle;
        }
        finally
        {
            LibC.close(fd);
            foreach (int h in held) LibC.close(h);
        }
    }
}
