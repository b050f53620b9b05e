using System.Runtime.InteropServices;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>
/// Undoing a copy relocation (a link removed from a long-lived process) copies the variable back into
/// the library only if the program changed it: library data that is read-only (typeinfo and vtables in
/// RELRO, const data) did not change and cannot be written. Writing it back killed the host with SIGSEGV
/// (found by the in-process fuzz campaign: a C++ link whose typeinfo was copied, then removed).
/// </summary>
public unsafe class CopyRelocationUndoTests
{
    [DllImport("libc.so.6")] static extern nint mmap(nint addr, nuint len, int prot, int flags, int fd, nint off);
    [DllImport("libc.so.6")] static extern int mprotect(nint addr, nuint len, int prot);
    [DllImport("libc.so.6")] static extern int munmap(nint addr, nuint len);

    static byte[] Result(byte[] argument)
    {
        fixed (byte* p = argument)
        {
            var r = CopyRelocationRuntime.Undo(p, (nuint)argument.Length);
            if (r.Size <= (nuint)sizeof(nint)) return new ReadOnlySpan<byte>(&r.Data, (int)r.Size).ToArray(); // held inline
            var bytes = new ReadOnlySpan<byte>((void*)r.Data, (int)r.Size).ToArray();
            NativeMemory.Free((void*)r.Data);
            return bytes;
        }
    }

    /// <summary>An undo names a copy that was never installed: an error result, nothing is written.</summary>
    [Fact]
    public void UndoOfACopyNeverInstalledIsRefused()
    {
        nint orig = (nint)NativeMemory.AllocZeroed(16), copy = (nint)NativeMemory.Alloc(16);
        try
        {
            for (int i = 0; i < 16; i++) ((byte*)copy)[i] = (byte)(i + 1);
            var arg = CopyRelocationRuntime.EncodeArgument([("orcsharp_test_no_such_symbol", new ExecutorAddr((ulong)orig), new ExecutorAddr((ulong)copy), 16)]);
            var r = new SpsReader(Result(arg));
            Assert.Contains("was installed", r.Error());
            Assert.Equal(new byte[16], new ReadOnlySpan<byte>((void*)orig, 16).ToArray());
        }
        finally { NativeMemory.Free((void*)orig); NativeMemory.Free((void*)copy); }
    }

    [Fact]
    public void ReadOnlyOriginalThatDidNotChangeIsLeftAlone()
    {
        nint page = mmap(0, 4096, 3, 0x22, -1, 0); // read-write, private anonymous
        nint copy = (nint)NativeMemory.Alloc(64);
        try
        {
            for (int i = 0; i < 64; i++) ((byte*)page)[i] = ((byte*)copy)[i] = (byte)(i * 7);
            Assert.Equal(0, mprotect(page, 4096, 1)); // now read-only, like RELRO after start-up
            CopyRelocationRuntime.CopyBack((byte*)page, (byte*)copy, 64); // would die of SIGSEGV if it wrote
            Assert.Equal(new ReadOnlySpan<byte>((void*)copy, 64).ToArray(), new ReadOnlySpan<byte>((void*)page, 64).ToArray());
        }
        finally { munmap(page, 4096); NativeMemory.Free((void*)copy); }
    }

    [Fact]
    public void WritableOriginalGetsTheProgramsChangesBack()
    {
        nint orig = (nint)NativeMemory.AllocZeroed(16), copy = (nint)NativeMemory.Alloc(16);
        try
        {
            for (int i = 0; i < 16; i++) ((byte*)copy)[i] = (byte)(i + 1);
            CopyRelocationRuntime.CopyBack((byte*)orig, (byte*)copy, 16);
            Assert.Equal(new ReadOnlySpan<byte>((void*)copy, 16).ToArray(), new ReadOnlySpan<byte>((void*)orig, 16).ToArray());
        }
        finally { NativeMemory.Free((void*)orig); NativeMemory.Free((void*)copy); }
    }
}
