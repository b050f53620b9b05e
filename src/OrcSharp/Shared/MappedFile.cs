using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace OrcSharp.Shared;

/// <summary>
/// Input files mapped read-only instead of read: a link touches an archive's index and the few members
/// it needs, not all of libgcc.a, and object bytes are never copied. The mapping lives as long as any
/// memory handed out from it.
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
    public static ReadOnlyMemory<byte> Read(string path)
    {
        try
        {
            long length = new FileInfo(path).Length;
            if (length == 0) return File.ReadAllBytes(path); // nothing to map
            if (length > int.MaxValue) throw new LinkError($"{path}: cannot read: larger than 2 GiB");
            var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            return new MappedFile(file, view, (int)length).Memory;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LinkError($"{path}: cannot read: {e.Message}");
        }
    }

    public override Span<byte> GetSpan() => new(_pointer, _length);
    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);
    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
