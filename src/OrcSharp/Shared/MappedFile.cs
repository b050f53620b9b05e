using System.Buffers;
using System.IO.MemoryMappedFiles;
using Microsoft.Win32.SafeHandles;

namespace OrcSharp.Shared;

/// <summary>
/// Input files mapped read-only instead of read: a link touches an archive's index and the few members
/// it needs, not all of libgcc.a, and object bytes are never copied. The mapping lives as long as any
/// memory handed out from it. (Which files are mapped, read, or read as streams: <see cref="InputFile"/>.)
/// </summary>
public sealed unsafe class MappedFile : MemoryManager<byte>
{
    readonly MemoryMappedFile _file;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _pointer;
    readonly int _length;

    MappedFile(MemoryMappedFile file, MemoryMappedViewAccessor view, int length)
    {
        _file = file; _view = view; _length = length;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + view.PointerOffset;
    }

    /// <summary>The file's bytes; a <see cref="LinkError"/> naming the file if it cannot be read.</summary>
    public static ReadOnlyMemory<byte> Read(string path) => InputFile.Read(path).Bytes;

    /// <summary>Maps the first <paramref name="length"/> bytes of an open regular file read-only.</summary>
    internal static ReadOnlyMemory<byte> Map(SafeFileHandle handle, int length)
    {
        var file = MemoryMappedFile.CreateFromFile(handle, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        return new MappedFile(file, view, length).Memory;
    }

    /// <summary>
    /// Drops the pages under <paramref name="bytes"/> from this process when they come from a large mapped
    /// input (<see cref="ReleaseAbove"/>; anything else is left alone). They are clean pages of a read-only
    /// file mapping: touching them again faults them back in from the page cache. A link releases a large
    /// input's block contents as it copies them into the image, so that both are not resident at once
    /// (released earlier, after parsing, the pages fault back in at the copy: measured slower).
    /// </summary>
    public static void Release(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.IsEmpty || !System.Runtime.InteropServices.MemoryMarshal.TryGetMemoryManager<byte, MappedFile>(bytes, out var file, out int start, out int length) ||
            file._length < ReleaseAbove)
            return;
        nuint page = (nuint)Environment.SystemPageSize;
        nuint from = (nuint)(file._pointer + start) & ~(page - 1), to = ((nuint)(file._pointer + start + length) + page - 1) & ~(page - 1);
        madvise(from, to - from, MadvDontNeed);
    }

    /// <summary>Inputs this large are released as they are used (libpython3.11.a is 13 MB; sqlite's object 1.6 MB).</summary>
    public const int ReleaseAbove = 4 << 20;

    /// <summary>Whether <paramref name="bytes"/> lie in a mapping that <see cref="Release"/> applies to.</summary>
    public static bool IsReleasable(ReadOnlyMemory<byte> bytes) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetMemoryManager<byte, MappedFile>(bytes, out var file) && file._length >= ReleaseAbove;

    const int MadvDontNeed = 4;
    [System.Runtime.InteropServices.DllImport("libc.so.6")] static extern int madvise(nuint addr, nuint length, int advice);

    // In bounds: the view maps exactly _length bytes from _pointer (the view accessor was created with
    // that length), and spans check every index against it; nothing is written through it (read-only pages).
    public override Span<byte> GetSpan() => new(_pointer, _length);
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        if ((uint)elementIndex > (uint)_length) throw new ArgumentOutOfRangeException(nameof(elementIndex));
        return new(_pointer + elementIndex);
    }
    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
