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
    const long MapThreshold = 256 << 10;

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
            using var handle = File.OpenHandle(path);
            long length = RandomAccess.GetLength(handle);
            if (length > int.MaxValue) throw new LinkError($"{path}: cannot read: larger than 2 GiB");
            // Mapping costs a few system calls and a view object; small files are cheaper to read.
            if (length < MapThreshold)
            {
                var bytes = new byte[length];
                int done = 0;
                while (done < bytes.Length)
                {
                    int n = RandomAccess.Read(handle, bytes.AsSpan(done), done);
                    if (n == 0) throw new LinkError($"{path}: cannot read: file shrank while reading");
                    done += n;
                }
                return bytes;
            }
            var file = MemoryMappedFile.CreateFromFile(handle, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
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
