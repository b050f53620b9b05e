using OrcSharp.Shared;

namespace OrcSharp.Orc.Libraries;

public enum InputKind : byte { SharedLibrary, StaticArchive, RelocatableObject }

/// <summary>A file the search settled on, classified by content.</summary>
public readonly record struct ResolvedInput(string Path, InputKind Kind, bool AsNeeded);

/// <summary>
/// Finds -l NAME the way GNU ld does on Debian x86-64: the -L directories in order, then the default
/// directories (multiarch first) and gcc's library directory; libNAME.so before libNAME.a in each
/// directory; -l:FILE for an exact name. A found ld script is expanded recursively.
/// </summary>
public sealed class LibrarySearch
{
    readonly List<string> _dirs;

    /// <summary>Enough of a file to tell an archive, an ELF file (with its type) or a possible ld script.</summary>
    const int ClassifyBytes = 64;

    public LibrarySearch(IEnumerable<string> userDirs, IEnumerable<string> defaultDirs)
    {
        _dirs = userDirs.Concat(defaultDirs).ToList();
    }

    public IReadOnlyList<string> Directories => _dirs;

    /// <summary>The search for code that runs on <paramref name="arch"/>: this machine's libraries, or a
    /// Debian cross toolchain's (/usr/aarch64-linux-gnu, gcc-cross) when the target is another architecture.</summary>
    public static LibrarySearch ForTarget(JitLink.TargetArch arch, IEnumerable<string> userDirs)
    {
        var host = HostArchitecture.IsArm64 ? JitLink.TargetArch.AArch64 : JitLink.TargetArch.X86_64;
        if (arch == host) return ForHost(userDirs);
        string triple = arch == JitLink.TargetArch.AArch64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
        var defaults = new List<string>();
        if (GccLibDir($"/usr/lib/gcc-cross/{triple}") is { } gcc) defaults.Add(gcc);
        defaults.AddRange(new[] { $"/usr/{triple}/lib", $"/usr/{triple}/lib64" });
        return new LibrarySearch(userDirs, defaults.Where(Directory.Exists));
    }

    public static LibrarySearch ForHost(IEnumerable<string> userDirs)
    {
        var defaults = new List<string>();
        if (GccLibDir("/usr/lib/gcc/x86_64-linux-gnu") is { } gcc) defaults.Add(gcc);
        defaults.AddRange(new[]
        {
            "/usr/local/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
            "/usr/local/lib", "/lib", "/usr/lib",
        });
        return new LibrarySearch(userDirs, defaults.Where(Directory.Exists));
    }

    /// <summary>The newest ROOT/N (e.g. /usr/lib/gcc/x86_64-linux-gnu/12): libstdc++, libgcc and libgfortran live there.</summary>
    static string? GccLibDir(string root)
    {
        if (!Directory.Exists(root)) return null;
        string? best = null;
        int bestVersion = -1;
        foreach (var d in Directory.EnumerateDirectories(root))
        {
            var name = Path.GetFileName(d.AsSpan());
            int dot = name.IndexOf('.');
            if (int.TryParse(dot < 0 ? name : name[..dot], out int v) && v > bestVersion) { best = d; bestVersion = v; }
        }
        return best;
    }

    /// <summary>Finds -l NAME and expands it to the files it stands for.</summary>
    public List<ResolvedInput> Resolve(string name)
    {
        string path = Find(name) ?? throw new LinkError($"cannot find -l{name} (searched: {string.Join(", ", _dirs)})");
        return ExpandFile(path);
    }

    public string? Find(string name)
    {
        if (name.StartsWith(':'))
        {
            foreach (var d in _dirs) if (File.Exists(Path.Combine(d, name[1..]))) return Path.Combine(d, name[1..]);
            return null;
        }
        foreach (var d in _dirs)
        {
            string so = Path.Combine(d, $"lib{name}.so"), a = Path.Combine(d, $"lib{name}.a");
            if (File.Exists(so)) return so;
            if (File.Exists(a)) return a;
        }
        return null;
    }

    /// <summary>libNAME.a only (for libgcc.a, which gcc links statically).</summary>
    public string? TryFindStatic(string name)
    {
        foreach (var d in _dirs)
            if (File.Exists(Path.Combine(d, $"lib{name}.a"))) return Path.Combine(d, $"lib{name}.a");
        return null;
    }

    /// <summary>Classifies a file and, if it is an ld script, expands its entries recursively.</summary>
    public List<ResolvedInput> ExpandFile(string path)
    {
        var result = new List<ResolvedInput>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Expand(path, false, result, seen, 0);
        return result;
    }

    void Expand(string path, bool asNeeded, List<ResolvedInput> into, HashSet<string> seen, int depth)
    {
        if (depth > 16) throw new LinkError($"{path}: linker scripts nest too deeply");
        if (!seen.Add(path)) return;
        // Only the head: what the file is (a FIFO or a directory found here is an error, not a wait), and
        // only for an ld script, which is small, the whole file (a megabyte read of every library for
        // every link was a third of a long-lived host's link time).
        ReadOnlySpan<byte> head = InputFile.ReadHead(path, ClassifyBytes);
        if (head.StartsWith("!<arch>\n"u8) || head.StartsWith("!<thin>\n"u8)) { into.Add(new(path, InputKind.StaticArchive, asNeeded)); return; }
        if (head.StartsWith("\u007fELF"u8) && head.Length >= 18)
        {
            ushort type = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(head[16..]);
            into.Add(new(path, type == 3 ? InputKind.SharedLibrary : InputKind.RelocatableObject, asNeeded));
            return;
        }
        if (head.Length == ClassifyBytes) head = InputFile.ReadHead(path, LdScript.MaxScriptBytes + 1);
        if (!LdScript.LooksLikeLdScript(head)) throw new LinkError($"{path}: file format not recognized");
        if (head.Length > LdScript.MaxScriptBytes) throw new LinkError($"{path}: linker script is larger than {LdScript.MaxScriptBytes >> 20} MiB");
        var (entries, dirs) = LdScript.Parse(path, System.Text.Encoding.UTF8.GetString(head));
        var search = dirs.Count == 0 ? this : new LibrarySearch(dirs, _dirs);
        foreach (var e in entries)
        {
            string? p = e.IsLibName ? search.Find(e.PathOrLib)
                : Path.IsPathRooted(e.PathOrLib) ? e.PathOrLib
                : File.Exists(Path.Combine(Path.GetDirectoryName(path) ?? ".", e.PathOrLib)) ? Path.Combine(Path.GetDirectoryName(path) ?? ".", e.PathOrLib)
                : search.Find(":" + e.PathOrLib);
            if (p is null || !File.Exists(p))
                throw new LinkError($"{path}: linker script names {(e.IsLibName ? "-l" : "")}{e.PathOrLib}, which cannot be found");
            search.Expand(p, asNeeded || e.AsNeeded, into, seen, depth + 1);
        }
    }
}
