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
