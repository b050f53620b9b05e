using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>The C ABI result of an ORC wrapper function: inline bytes when Size fits a pointer, else a
/// malloc'ed buffer; Size 0 with a non-null pointer is an out-of-band error string.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CWrapperFunctionResult
{
    public nint Data;
    public nuint Size;

    public static unsafe CWrapperFunctionResult From(ReadOnlySpan<byte> bytes)
    {
        var r = new CWrapperFunctionResult { Size = (nuint)bytes.Length };
        // In bounds: up to pointer size inline in Data, else a fresh block of exactly bytes.Length.
        if (bytes.Length <= sizeof(nint)) bytes.CopyTo(new Span<byte>(&r.Data, sizeof(nint)));
        else
        {
            r.Data = (nint)NativeMemory.Alloc((nuint)bytes.Length);
            bytes.CopyTo(new Span<byte>((void*)r.Data, bytes.Length));
        }
        return r;
    }

    public static unsafe CWrapperFunctionResult OutOfBandError(string message)
    {
        var b = System.Text.Encoding.UTF8.GetBytes(message + "\0");
        var p = (nint)NativeMemory.Alloc((nuint)b.Length); // in bounds: exactly b.Length bytes are copied in
        b.CopyTo(new Span<byte>((void*)p, b.Length));
        return new CWrapperFunctionResult { Data = p, Size = 0 };
    }
}

/// <summary>Calls wrapper functions in this (the executor) process.</summary>
public static unsafe class WrapperFunctions
{
    /// <summary>Calls fn(argData, argSize) and returns the result bytes, or throws for an out-of-band error.</summary>
    public static byte[] Call(ExecutorAddr fn, ReadOnlySpan<byte> arg)
    {
        if (fn.IsNull) throw new LinkError("executor: call to a null wrapper function");
        var f = (delegate* unmanaged<byte*, nuint, CWrapperFunctionResult>)fn.Value;
        CWrapperFunctionResult r;
        fixed (byte* a = arg) r = f(a, (nuint)arg.Length);
        if (r.Size == 0)
        {
            if (r.Data == 0) return Array.Empty<byte>();
            string msg = Marshal.PtrToStringUTF8(r.Data) ?? "";
            NativeMemory.Free((void*)r.Data);
            throw new LinkError(msg);
        }
        byte[] result = new byte[(int)r.Size];
        if (r.Size <= (nuint)sizeof(nint)) new ReadOnlySpan<byte>(&r.Data, (int)r.Size).CopyTo(result);
        else
        {
            // Reads what the wrapper function (one of the executor's own) allocated: Size bytes at Data.
            new ReadOnlySpan<byte>((void*)r.Data, (int)r.Size).CopyTo(result);
            NativeMemory.Free((void*)r.Data);
        }
        return result;
    }

    /// <summary>Runs an allocation action: the wrapper returns an SPSError.</summary>
    public static void CallChecked(WrapperCall call, string what)
    {
        var result = Call(call.Function, call.Argument);
        if (result.Length == 0) return;
        var reader = new SpsReader(result);
        if (reader.Error() is { } err) throw new LinkError($"executor: {what} failed: {err}");
    }
}
