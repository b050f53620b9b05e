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

    /// <summary>Adds a file given by path ("-" for standard input), classified by its first bytes.</summary>
    public void AddFile(string path) => Add(InputFile.Read(path));

    /// <summary>Adds files in order; they are read on all cores (a thousand small objects cost a thousand
    /// opens and reads).</summary>
    public void AddFiles(IReadOnlyList<string> paths)
    {
        var contents = new InputFile[paths.Count];
        JitLink.ParallelLink.For(paths.Count, paths.Count * JitLink.ParallelLink.BytesPerSmallItem, i => contents[i] = InputFile.Read(paths[i]));
        foreach (var f in contents) Add(f);
    }

    /// <summary>Adds an input already in memory (an object, archive or ld script), named
    /// <paramref name="name"/> in messages.</summary>
    public void AddBytes(string name, ReadOnlyMemory<byte> bytes) => Add(InputFile.FromMemory(name, bytes));

    void Add(InputFile input)
    {
        var span = input.Bytes.Span;
        string path = input.Path;
        if (span.StartsWith("!<arch>\n"u8) || span.StartsWith("!<thin>\n"u8)) AddArchive(path, input);
        else if (span.Length >= 18 && span.StartsWith("\u007fELF"u8))
        {
            ushort type = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(span[16..]);
            if (type == 3)
            {
                if (input.IsStream) throw new LinkError($"{path}: a shared library must be a file (the dynamic loader opens it by path)");
                _jd.AddSharedLibrary(Path.GetFullPath(path));
            }
            else _jd.AddObject(path, input.Bytes);
        }
        else if (input.IsStream)
            throw new LinkError($"{path}: not an ELF object or archive; a source from a pipe needs its language (-x c or -x c++), and a linker script must be a file");
        else if (LdScript.LooksLikeLdScript(span)) AddResolved(_search.ExpandFile(path));
        else throw new LinkError($"{path}: file format not recognized (expected an ELF object, archive or shared library)");
    }

    /// <summary>An archive by path, parsed once per process while the file is unchanged: every JITDylib
    /// (and every link of a long-lived host) shares libgcc.a's one mapping and index. An archive read from
    /// a stream or memory has no identity and is parsed for this JITDylib alone.</summary>
    void AddArchive(string path, InputFile? input = null)
    {
        string full = Path.GetFullPath(path);
        if (!_archivePaths.Add(full)) return;
        // Known unchanged: no need to map it again (a long-lived host adds libgcc.a to every JITDylib).
        if (input is null && FileStatus.Get(full) is { IsRegular: true } st &&
            SharedArchives.TryGetValue((full, (st.Device, st.Inode, st.Size, (long)st.ModifiedNs)), out var known))
        {
            _jd.AddArchive(known);
            return;
        }
        input ??= InputFile.Read(path);
        if (input.Identity is not { } id)
        {
            _jd.AddArchive(StaticArchive.Parse(path, input.Bytes));
            return;
        }
        var key = (full, id);
        if (SharedArchives.TryGetValue(key, out var archive))
        {
            // Read again for nothing: unmap it now rather than when the collector gets to it.
            if (System.Runtime.InteropServices.MemoryMarshal.TryGetMemoryManager<byte, MappedFile>(input.Bytes, out var mapped)) ((IDisposable)mapped).Dispose();
        }
        else archive = SharedArchives.GetOrAdd(key, StaticArchive.Parse(path, input.Bytes));
        _jd.AddArchive(archive);
    }

    static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, (ulong, ulong, long, long)), StaticArchive> SharedArchives = new();

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
                case InputKind.RelocatableObject: _jd.AddObject(input.Path, InputFile.Read(input.Path).Bytes); break;
            }
        }
    }
}
