using System.Runtime.InteropServices;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.ObjectFile.Elf;
using Xunit;

namespace OrcSharp.Tests.ObjectFile;

/// <summary>The in-memory shared object writer, checked by the system's dynamic loader itself.</summary>
public class ElfSharedObjectWriterTests
{
    [DllImport("libc.so.6")] static extern nint dlsym(nint handle, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    [DllImport("libc.so.6")] static extern int dlclose(nint handle);

    static ushort Machine => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? ElfAbi.EmAArch64 : ElfAbi.EmX86_64;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(3000)]
    public void GnuHashTableFindsEverySymbolAndNoOther(int count)
    {
        var writer = new ElfSharedObjectWriter(Machine);
        for (int i = 0; i < count; i++)
            writer.AddSymbol(new ElfDynamicSymbol($"sym_{i}_{i * 7919 % 1000}", 0x1000 + 16 * (ulong)i, 8, ElfAbi.SttObject, ElfAbi.StbGlobal, ElfAbi.ShnAbs));
        var so = writer.Build();
        Assert.Equal(count, so.SymbolCount);
        nint h = InMemoryLibrary.Load(so.File, "writer-test", 2 /* RTLD_NOW */, out string? error);
        Assert.True(h != 0, error);
        try
        {
            for (int i = 0; i < count; i++)
                Assert.Equal(0x1000 + 16 * i, (long)dlsym(h, $"sym_{i}_{i * 7919 % 1000}")); // SHN_ABS: no load bias
            Assert.Equal(0, dlsym(h, "sym_absent"));
            Assert.Equal(0, dlsym(h, $"sym_{count}_0"));
        }
        finally { dlclose(h); }
    }
}
