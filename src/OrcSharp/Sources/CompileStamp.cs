using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Sources;

/// <summary>
/// Why a cached object is still good, without hashing anything: the stamp beside it records the compile
/// command (compiler, flags, source path) and, for the source, every header the compiler's depfile named
/// and the compiler itself, the size, modification time (ns) and inode it had when the object was built.
/// A hit is a handful of stat calls. A file that changed while it was being compiled leaves no stamp, so
/// the next run compiles again rather than trust an object built from a half-written file.
/// </summary>
static class CompileStamp
{
    const string Magic = "orcsharp-compile-stamp 1";

    /// <summary>What an object is built from besides file contents: the compile command.</summary>
    public sealed record Key(string Compiler, string Flags, string SourcePath, string WorkingDirectory)
    {
        /// <summary>A file name for the cache entry: 128 bits of FNV-1a over the command. Collisions only
        /// cost a recompile, since the stamp holds the command itself.</summary>
        public string FileName
        {
            get
            {
                ulong a = 0xcbf29ce484222325, b = 0x84222325cbf29ce4;
                foreach (char c in $"{Compiler}\0{Flags}\0{SourcePath}\0{WorkingDirectory}")
                {
                    a = (a ^ c) * 0x100000001b3;
                    b = (b ^ c) * 0x100000001b3 + 0x9e3779b97f4a7c15;
                }
                return $"{a:x16}{b:x16}";
            }
        }

        public bool IsStorable => !$"{Compiler}{Flags}{SourcePath}{WorkingDirectory}".Contains('\n');
    }

    public static bool IsCurrent(string stampFile, Key key, string objectFile)
    {
        byte[] text;
        try { text = File.ReadAllBytes(stampFile); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
        var lines = Encoding.UTF8.GetString(text).Split('\n');
        if (lines.Length < 6 || lines[0] != Magic || lines[1] != key.Compiler || lines[2] != key.Flags || lines[3] != key.SourcePath ||
            lines[4] != key.WorkingDirectory)
            return false;
        if (FileStatus.Get(objectFile) is null) return false;
        for (int i = 5; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(' ', 4);
            if (f.Length != 4 || FileStatus.Get(f[3]) is not { } now) return false;
            if (now.Size.ToString() != f[0] || now.ModifiedNs.ToString() != f[1] || now.Inode.ToString() != f[2]) return false;
        }
        return true;
    }

    /// <summary>Records what the object was built from. <paramref name="compileStarted"/>: a file modified
    /// after it may have changed during the compile, so no stamp is written.</summary>
    public static void Write(string stampFile, Key key, string depfile, DateTime compileStarted)
    {
        if (!key.IsStorable) return;
        var files = new List<string> { key.SourcePath };
        files.AddRange(Prerequisites(depfile).Where(p => p != key.SourcePath));
        if (ResolveOnPath(key.Compiler) is { } compiler) files.Add(compiler);
        var sb = new StringBuilder().Append(Magic).Append('\n').Append(key.Compiler).Append('\n')
            .Append(key.Flags).Append('\n').Append(key.SourcePath).Append('\n').Append(key.WorkingDirectory).Append('\n');
        var startedNs = (Int128)(compileStarted - DateTime.UnixEpoch).Ticks * 100;
        foreach (var f in files)
        {
            if (f.Contains('\n') || FileStatus.Get(f) is not { } s || s.ModifiedNs >= startedNs) return;
            sb.Append(s.Size).Append(' ').Append(s.ModifiedNs).Append(' ').Append(s.Inode).Append(' ').Append(f).Append('\n');
        }
        string tmp = $"{stampFile}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
        File.WriteAllText(tmp, sb.ToString());
        File.Move(tmp, stampFile, true);
    }

    /// <summary>The prerequisites of a make-style depfile ("obj: a.c b.h \"), with make's escapes undone.</summary>
    static IEnumerable<string> Prerequisites(string depfile)
    {
        string text = File.ReadAllText(depfile).Replace("\\\n", " ");
        int colon = text.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0) yield break;
        var current = new StringBuilder();
        string rest = text[(colon + 2)..];
        for (int i = 0; i < rest.Length; i++)
        {
            char c = rest[i];
            if (c == '\\' && i + 1 < rest.Length && rest[i + 1] == ' ') { current.Append(' '); i++; continue; }
            if (c == '$' && i + 1 < rest.Length && rest[i + 1] == '$') { current.Append('$'); i++; continue; }
            if (c is ' ' or '\n' or '\t' or '\r')
            {
                if (current.Length > 0) yield return Path.GetFullPath(current.ToString());
                current.Clear();
                continue;
            }
            current.Append(c);
        }
        if (current.Length > 0) yield return Path.GetFullPath(current.ToString());
    }

    static string? ResolveOnPath(string command)
    {
        if (command.Contains('/')) return Path.GetFullPath(command);
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, command);
            if (FileStatus.Get(candidate) is { IsDirectory: false }) return candidate;
        }
        return null;
    }
}
