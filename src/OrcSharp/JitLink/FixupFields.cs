using System.Buffers.Binary;
using OrcSharp.Shared;

namespace OrcSharp.JitLink;

/// <summary>Range-checked writes of fixup values into data fields, shared by the backends. A value that
/// does not fit is a <see cref="LinkError"/> naming the block, offset, edge kind and target.</summary>
public static class FixupFields
{
    public static void Write64(Span<byte> f, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(f, v);

    /// <summary>Writes the low <paramref name="width"/> bytes of v after checking it lies in [min, max].</summary>
    public static void WriteChecked(Span<byte> f, long v, long min, long max, int width, Block b, in Edge e, ILinkBackend backend)
    {
        if (v < min || v > max) throw OutOfRange(b, e, v, backend);
        switch (width)
        {
            case 1: f[0] = (byte)v; break;
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(f, (ushort)v); break;
            default: BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)v); break;
        }
    }

    /// <summary>"file: section S: offset 0xN: relocation target "T" (value 0xV) is out of range of KIND
    /// fixup", in the words llvm-jitlink uses, which tools and tests grep for.</summary>
    public static LinkError OutOfRange(Block b, in Edge e, long v, ILinkBackend backend) =>
        new($"{b.SourceFile}: section {b.SourceSection}: offset 0x{e.Offset:x}: relocation target \"{e.Target.DisplayName}\" (value 0x{v:x}) is out of range of {backend.EdgeKindName(e.Kind)} fixup");

    /// <summary>"file: section S: offset 0xN: KIND fixup against 'T' " followed by what is wrong.</summary>
    public static LinkError Error(Block b, in Edge e, ILinkBackend backend, string problem) =>
        new($"{b.SourceFile}: section {b.SourceSection}: offset 0x{e.Offset:x}: {backend.EdgeKindName(e.Kind)} fixup against '{e.Target.DisplayName}' {problem}");

    public static LinkError Unexpected(Block b, in Edge e, ILinkBackend backend) =>
        new($"{b.SourceFile}: section {b.SourceSection}: offset 0x{e.Offset:x}: edge kind {backend.EdgeKindName(e.Kind)} reached fixup (internal error)");
}
