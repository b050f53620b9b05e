using System.Runtime.InteropServices;

namespace OrcSharp.Cli;

/// <summary>
/// When the ./orcsharp launcher of a checkout starts this binary (its cached build under .cache/), the
/// launcher says so with <see cref="LauncherVariable"/>, and the binary checks that no source is newer than
/// itself, otherwise handing over to the launcher to rebuild. Doing the check here (about 90 file times, on
/// the other core, no process started) lets the launcher start this binary at once. Started any other way
/// (an installed copy, a spawned or cross executor, a test host) the binary reads nothing of a source tree.
/// </summary>
static partial class LauncherCheck
{
    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int execv(string path, nint* argv);

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unsetenv(string name);
    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    static Thread? _check;
    static string? _staleLauncher;

    /// <summary>Set by the launcher on its fast path (the binary may be stale); removed at once, so neither a
    /// JIT'd program nor a child executor sees it.</summary>
    public const string LauncherVariable = "ORCSHARP_LAUNCHER";

    /// <summary>Starts the check on the other core when the launcher asked for it; <see cref="EnsureFresh"/>
    /// collects it before anything is printed or run.</summary>
    public static void Begin()
    {
        if (Environment.GetEnvironmentVariable(LauncherVariable) is not { Length: > 0 } launcher) return;
        // The C environment too: JIT'd programs and child processes see the environment they were given.
        unsetenv(LauncherVariable);
        Environment.SetEnvironmentVariable(LauncherVariable, null);
        string? exe = Environment.ProcessPath;
        if (exe is null || !exe.EndsWith(CachedBuild, StringComparison.Ordinal)) return;
        _check = new Thread(() => _staleLauncher = StaleLauncher(exe, launcher)) { IsBackground = true, Name = "orcsharp-stale-check" };
        _check.Start();
    }

    const string CachedBuild = "/.cache/orcsharp-cli/OrcSharp.Cli";

    /// <summary>If a source is newer than this binary, hands over to the launcher (which rebuilds and
    /// runs the same command); nothing has been printed or run by then.</summary>
    public static unsafe void EnsureFresh()
    {
        if (_check is null) return;
        _check.Join();
        _check = null;
        if (_staleLauncher is not { } launcher) return;
        // The C environment, which execv passes on (.NET's own copy is not it).
        setenv("ORCSHARP_REBUILD", "1", 1);
        var argv = new List<string> { "/bin/sh", launcher };
        argv.AddRange(Environment.GetCommandLineArgs().Skip(1));
        var p = Shared.NativeStrings.ToArray(argv);
        fixed (nint* a = p) execv("/bin/sh", a);
        Shared.NativeStrings.Free(p); // only reached if exec failed: the stale binary carries on
    }

    /// <summary>The launcher to rebuild with, if a source of the checkout this binary was built in is newer.</summary>
    static string? StaleLauncher(string exe, string launcher)
    {
        string root = exe[..^CachedBuild.Length];
        if (ModifiedAt(launcher) is null || ModifiedAt(exe) is not { } built) return null;
        bool stale = NewerThan(root + "/src", built) || ModifiedAt(root + "/Directory.Build.props") > built;
        return stale ? launcher : null;
    }

    /// <summary>Modification time in nanoseconds, or null if absent.</summary>
    static Int128? ModifiedAt(string path) => Shared.FileStatus.Get(path)?.ModifiedNs;

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)] private static partial nint opendir(string path);
    [LibraryImport("libc.so.6")] private static partial nint readdir(nint dir);
    [LibraryImport("libc.so.6")] private static partial int closedir(nint dir);
    const int DirentTypeOffset = 18, DirentNameOffset = 19;
    const byte DtDir = 4;

    /// <summary>What the build compiles: C# sources and projects, and the native parts linked in (Native/*.c, exports.map).</summary>
    static bool IsSource(string name) =>
        name.EndsWith(".cs", StringComparison.Ordinal) || name.EndsWith(".csproj", StringComparison.Ordinal) ||
        name.EndsWith(".c", StringComparison.Ordinal) || name.EndsWith(".map", StringComparison.Ordinal);

    /// <summary>Whether a source (<see cref="IsSource"/>) under <paramref name="dir"/> (bin/ and obj/ skipped), or a
    /// folder (files added or removed), changed after <paramref name="time"/>.</summary>
    static unsafe bool NewerThan(string dir, Int128 time)
    {
        if (ModifiedAt(dir) is not { } t || t > time) return true;
        nint d = opendir(dir);
        if (d == 0) return true;
        try
        {
            for (nint e; (e = readdir(d)) != 0;)
            {
                string name = Marshal.PtrToStringUTF8(e + DirentNameOffset)!;
                if (name.StartsWith('.') || name is "bin" or "obj") continue;
                string path = dir + "/" + name;
                if (*(byte*)(e + DirentTypeOffset) == DtDir) { if (NewerThan(path, time)) return true; }
                else if (IsSource(name) && ModifiedAt(path) > time)
                    return true;
            }
        }
        finally { closedir(d); }
        return false;
    }
}
