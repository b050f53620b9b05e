using Xunit;

namespace OrcSharp.Tests.RealPrograms;

/// <summary>
/// A D program built with gdc on the D runtime from Debian's static libgphobos.a. The runtime finds the
/// image that holds its module data with dl_iterate_phdr (natively the executable; without an image it
/// aborts with "Failed to find image header"), and registers that image's writable PT_LOADs and PT_TLS
/// block (by module id) as garbage-collector roots. Packages: gdc, libgphobos-dev; for AArch64
/// gdc-aarch64-linux-gnu (the cross compiler and its static phobos).
/// </summary>
public class GdcPhobosTests
{
    sealed record Build(string Dir, string Object, string Phobos, string Native);

    static Build Compile(string gdc, string package)
    {
        string phobos = NativeComparison.Require(NativeComparison.Tool(gdc, "-print-file-name=libgphobos.a"), package);
        string dir = TestSupport.NewTempDir();
        string obj = Path.Combine(dir, "app.o"), native = Path.Combine(dir, "app-native");
        NativeComparison.Tool(gdc, ["-O1", "-c", NativeComparison.ProgramSource("gdc-phobos/app.d"), "-o", obj]);
        NativeComparison.Tool(gdc, [obj, "-static-libphobos", "-o", native]);
        return new Build(dir, obj, phobos, native);
    }

    static readonly Lazy<Build> Host = new(() => Compile("gdc", "gdc and libgphobos-dev"));
    static readonly Lazy<Build> AArch64 = new(() => Compile("aarch64-linux-gnu-gdc", "gdc-aarch64-linux-gnu"));

    [Theory]
    [InlineData("in-process")]
    [InlineData("oop")]
    [InlineData("aarch64")]
    public void RunsLikeTheNativeLink(string executor)
    {
        string? target = executor == "aarch64" ? "aarch64" : null;
        var b = target is null ? Host.Value : AArch64.Value;
        var native = NativeComparison.RunNative(b.Native, b.Object, b.Dir, target);
        Assert.Equal(0, native.ExitCode);
        Assert.Contains("roots intact: tls true, data true, bss true", native.StdoutText);
        // What gdc links after the objects: -Bstatic -lgphobos -Bdynamic -lgcc_s -lm (-lz as needed: unused).
        var jit = NativeComparison.RunOrcsharp(b.Dir, executor == "oop", [b.Object, b.Phobos, "-l", "gcc_s", "-l", "m"], target);
        NativeComparison.AssertSame(native, jit);
    }
}
