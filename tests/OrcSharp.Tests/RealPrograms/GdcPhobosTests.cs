using Xunit;

namespace OrcSharp.Tests.RealPrograms;

/// <summary>
/// A D program built with gdc on the D runtime from Debian's static libgphobos.a. The runtime finds the
/// image that holds its module data with dl_iterate_phdr (natively the executable; without an image it
/// aborts with "Failed to find image header"), and registers that image's writable PT_LOADs and PT_TLS
/// block (by module id) as garbage-collector roots. Packages: gdc, libgphobos-dev.
/// </summary>
public class GdcPhobosTests
{
    sealed record Build(string Dir, string Object, string Phobos, string Native);

    static readonly Lazy<Build> Built = new(() =>
    {
        string phobos = NativeComparison.Require(NativeComparison.Tool("gdc", "-print-file-name=libgphobos.a"), "libgphobos-dev");
        string dir = TestSupport.NewTempDir();
        string obj = Path.Combine(dir, "app.o"), native = Path.Combine(dir, "app-native");
        NativeComparison.Tool("gdc", ["-O1", "-c", NativeComparison.ProgramSource("gdc-phobos/app.d"), "-o", obj]);
        NativeComparison.Tool("gdc", [obj, "-static-libphobos", "-o", native]);
        return new Build(dir, obj, phobos, native);
    });

    [Theory]
    [InlineData("in-process")]
    [InlineData("oop")]
    public void RunsLikeTheNativeLink(string executor)
    {
        var b = Built.Value;
        var native = NativeComparison.RunNative(b.Native, b.Object, b.Dir);
        Assert.Equal(0, native.ExitCode);
        Assert.Contains("roots intact: tls true, data true, bss true", native.StdoutText);
        // What gdc links after the objects: -Bstatic -lgphobos -Bdynamic -lgcc_s -lm -lz (as needed).
        var jit = NativeComparison.RunOrcsharp(b.Dir, executor == "oop", [b.Object, b.Phobos, "-l", "gcc_s", "-l", "m", "-l", "z"]);
        NativeComparison.AssertSame(native, jit);
    }
}
