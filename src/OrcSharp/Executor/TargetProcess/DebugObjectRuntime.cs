using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor side of a link's debug object, as a finalize action and its dealloc action. Registration
/// completes the image in native memory (its last bytes are the link's .eh_frame, copied from where the
/// link put it), adds it to the GDB JIT interface, adds its symbolization table to the crash-report
/// tables, and writes the perf map and jitdump records asked for. Deregistration undoes the first two,
/// marks the link's functions unloaded in the perf map and jitdump it was written to, and frees the image. Arguments (SPS): register (key, table offset, tail address, tail size, outputs, image
/// bytes without the tail); deregister (key). The key is the link's lowest address.
/// </summary>
public static unsafe class DebugObjectRuntime
{
    [Flags]
    public enum Outputs : byte { None = 0, PerfMap = 1, JitDump = 2 }

    sealed record Registration(nint Image, int Size, int TableOffset, Outputs Outputs, nint GdbEntry, nint Tables);

    static readonly Dictionary<ulong, Registration> _live = new();
    static readonly object _lock = new();

    /// <summary>The bytes of a registration argument before the image.</summary>
    public const int RegistrationHeaderSize = 8 + 8 + 8 + 8 + 1 + 8;

    /// <summary>Completes a registration argument: <paramref name="argument"/> holds the image after
    /// <see cref="RegistrationHeaderSize"/> bytes, which this fills (so the image is never copied).</summary>
    public static void WriteRegistrationHeader(byte[] argument, ExecutorAddr key, int tableOffset, ExecutorAddr tailAddress, int tailSize, Outputs outputs)
    {
        var header = new SpsWriter(RegistrationHeaderSize).Addr(key).U64((ulong)tableOffset).Addr(tailAddress).U64((ulong)tailSize)
            .U8((byte)outputs).U64((ulong)(argument.Length - RegistrationHeaderSize));
        header.WrittenSpan.CopyTo(argument);
    }

    public static byte[] EncodeKey(ExecutorAddr key) => new SpsWriter().Addr(key).ToArray();

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult RegisterWrapper(byte* arg, nuint size) => Serve(arg, size, (ref SpsReader r) =>
    {
        var key = r.Addr();
        ulong tableOffset = r.U64();
        var tailAddress = r.Addr();
        ulong tailSize = r.U64();
        var outputs = (Outputs)r.U8();
        var image = r.Bytes();
        if (tailSize > int.MaxValue - (ulong)image.Length || tableOffset > (ulong)image.Length)
            throw new LinkError("malformed message: debug object sizes");
        Register(key.Value, image, new ReadOnlySpan<byte>((void*)tailAddress.Value, (int)tailSize), (int)tableOffset, outputs);
    });

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult DeregisterWrapper(byte* arg, nuint size) => Serve(arg, size, (ref SpsReader r) => Deregister(r.Addr().Value));

    delegate void Handler(ref SpsReader r);

    static CWrapperFunctionResult Serve(byte* arg, nuint size, Handler handler)
    {
        string? error = null;
        try
        {
            var r = new SpsReader(new ReadOnlySpan<byte>(arg, checked((int)size)));
            handler(ref r);
        }
        catch (LinkError e) { error = e.Message; }
        catch (Exception e) when (e is BadImageFormatException or IOException or UnauthorizedAccessException) { error = $"debug object: {e.Message}"; }
        return CWrapperFunctionResult.From(new SpsWriter().Error(error).WrittenSpan);
    }

    /// <summary>Registers the image made of <paramref name="head"/> then <paramref name="tail"/>, whose
    /// symbolization table is at <paramref name="tableOffset"/>.</summary>
    public static void Register(ulong key, ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail, int tableOffset, Outputs outputs)
    {
        lock (_lock) if (_live.ContainsKey(key)) throw new LinkError($"a debug object is already registered at 0x{key:x}");
        int size = head.Length + tail.Length;
        // Pages populated in one call: a fault per page costs more (as for executor memory).
        var image = (byte*)LibC.mmap(0, (nuint)size, LibC.ProtRead | LibC.ProtWrite, LibC.MapPrivate | LibC.MapAnonymous | LibC.MapPopulate, -1, 0);
        if (image == (byte*)LibC.MapFailed) throw new LinkError($"executor: cannot map {size} bytes for a debug object: {LibC.ErrnoText()}");
        try
        {
            head.CopyTo(new Span<byte>(image, head.Length));
            tail.CopyTo(new Span<byte>(image + head.Length, tail.Length));
            var table = new SymbolizationTableReader(new ReadOnlySpan<byte>(image, size), tableOffset); // validates
            if ((outputs & Outputs.PerfMap) != 0) PerfMapWriter.Write(table);
            if ((outputs & Outputs.JitDump) != 0) JitDumpWriter.Write(table);
            var registration = new Registration((nint)image, size, tableOffset, outputs, GdbJitInterface.Register(image, (ulong)size), CrashReport.Add(image + tableOffset, table.CodeStart));
            lock (_lock) _live[key] = registration;
        }
        catch
        {
            LibC.munmap((nint)image, (nuint)size);
            throw;
        }
    }

    public static void Deregister(ulong key)
    {
        Registration? r;
        lock (_lock) if (!_live.Remove(key, out r)) throw new LinkError($"no debug object is registered at 0x{key:x}");
        CrashReport.Remove(r.Tables);
        GdbJitInterface.Unregister(r.GdbEntry);
        try
        {
            if (r.Outputs != Outputs.None)
            {
                var table = new SymbolizationTableReader(new ReadOnlySpan<byte>((void*)r.Image, r.Size), r.TableOffset);
                if ((r.Outputs & Outputs.PerfMap) != 0) PerfMapWriter.Write(table, unloaded: true);
                if ((r.Outputs & Outputs.JitDump) != 0) JitDumpWriter.Write(table, unloaded: true);
            }
        }
        finally { LibC.munmap(r.Image, (nuint)r.Size); }
    }
}
