using OrcSharp.Orc.Libraries;
using OrcSharp.Shared;

namespace OrcSharp.Orc;

/// <summary>
/// Turns the inputs of a command line into JITDylib contents the way the system linker would: objects,
/// static archives and shared libraries by content, -l NAME through the library search (ld scripts
/// included), and the implicit libraries a compiler driver adds (libc and libc_nonshared.a; libstdc++,
/// libm and libgcc_s for C++).
/// </summary>
public sealed class InputLoader
{
    readonly JITDylib _jd;
    readonly LibrarySearch _search;
    readonly HashSet<string> _archivePaths = new(StringComparer.Ordinal);

    public InputLoader(JITDylib jd, IEnumerable<string> libraryDirs)
    {
        _jd = jd;
        _search = LibrarySearch.ForTarget(jd.Session.Backend.Arch, libraryDirs);
    }

    /// <summary>Adds a file given by path, classified by its first bytes.</summary>
    public void AddFile(string path) => Add(path, MappedFile.Read(path));

    /// <summary>Adds files in order; they are read on all cores (a thousand small objects cost a thousand
    /// opens and reads).</summary>
    public void AddFiles(IReadOnlyList<string> paths)
    {
        var contents = new ReadOnlyMemory<byte>[paths.Count];
        JitLink.ParallelLink.For(paths.Count, paths.Count * JitLink.ParallelLink.BytesPerSmallItem, i => contents[i] = MappedFile.Read(paths[i]));
        for (int i = 0; i < paths.Count; i++) Add(paths[i], contents[i]);
    }

    void Add(string path, ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.StartsWith("!<arch>\n"u8) || span.StartsWith("!<thin>\n"u8)) AddArchive(path, bytes);
        else if (span.Length >= 18 && span.StartsWith("\u007fELF"u8))
        {
            ushort type = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(span[16..]);
            if (type == 3) _jd.AddSharedLibrary(Path.GetFullPath(path));
            else _jd.AddObject(path, bytes);
        }
        else if (LdScript.LooksLikeLdScript(span)) AddResolved(_search.ExpandFile(path));
        else throw new LinkError($"{path}: file format not recognized (expected an ELF object, archive or shared library)");
    }

    /// <summary>An archive by path, parsed once per process while the file is unchanged: every JITDylib
    /// (and every link of a long-lived host) shares libgcc.a's one mapping and index.</summary>
    void AddArchive(string path, ReadOnlyMemory<byte>? bytes = null)
    {
        string full = Path.GetFullPath(path);
        if (!_archivePaths.Add(full)) return;
        var info = new FileInfo(full);
        var key = (full, info.Exists ? info.Length : -1, info.Exists ? info.LastWriteTimeUtc.Ticks : 0);
        if (!SharedArchives.TryGetValue(key, out var archive))
            archive = SharedArchives.GetOrAdd(key, StaticArchive.Parse(path, bytes ?? MappedFile.Read(path)));
        _jd.AddArchive(archive);
    }

    static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, long, long), StaticArchive> SharedArchives = new();

    /// <summary>-l NAME: found and expanded like GNU ld does.</summary>
    public void AddLibrary(string name) => AddResolved(_search.Resolve(name));

    /// <summary>The libraries gcc/g++ add after the user's inputs.</summary>
    public void AddDefaultLibraries(bool cxx)
    {
        if (cxx) { AddLibrary("stdc++"); AddLibrary("m"); }
        AddLibrary("c");
        AddArchiveIfFound("gcc");
        if (cxx) AddLibrary("gcc_s");
    }

    void AddArchiveIfFound(string name)
    {
        if (_search.TryFindStatic(name) is { } path) AddArchive(path);
    }

    void AddResolved(IEnumerable<ResolvedInput> inputs)
    {
        foreach (var input in inputs)
        {
            switch (input.Kind)
            {
                case InputKind.SharedLibrary: _jd.AddSharedLibrary(input.Path, input.AsNeeded); break;
                case InputKind.StaticArchive: AddArchive(input.Path); break;
                case InputKind.RelocatableObject: _jd.AddObject(input.Path, MappedFile.Read(input.Path)); break;
            }
        }
    }
}
