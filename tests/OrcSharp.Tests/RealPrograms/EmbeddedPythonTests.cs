using Xunit;

namespace OrcSharp.Tests.RealPrograms;

/// <summary>
/// Python embedded from Debian's static libpython3.11.a imports extension modules of the system's
/// lib-dynload. Those shared objects resolve the Python API (PyFloat_Type, _Py_TrueStruct ...) in the
/// global scope, so the JIT'd definitions must be there, as -Wl,-E puts an executable's (Python's own
/// executable is linked that way; so is the oracle here). Package: libpython3.11-dev.
/// </summary>
public class EmbeddedPythonTests
{
    sealed record Build(string Dir, string Object, string Archive, string Native);

    static readonly Lazy<Build> Built = new(() =>
    {
        string config = NativeComparison.Tool("/usr/bin/python3.11-config", "--configdir");
        string archive = NativeComparison.Require(Path.Combine(config, "libpython3.11.a"), "libpython3.11-dev");
        string dir = TestSupport.NewTempDir();
        string obj = Path.Combine(dir, "embed.o"), native = Path.Combine(dir, "embed-native");
        var includes = NativeComparison.Tool("/usr/bin/python3.11-config", "--includes").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        NativeComparison.Tool("gcc", [.. includes, "-O2", "-c", NativeComparison.ProgramSource("python-embed/embed.c"), "-o", obj]);
        // The archive is built without -fPIC: the native link is position-dependent.
        NativeComparison.Tool("gcc", ["-no-pie", obj, archive, "-lexpat", "-lz", "-lm", "-Wl,-E", "-o", native]);
        return new Build(dir, obj, archive, native);
    });

    [Theory]
    [InlineData("in-process")]
    [InlineData("oop")]
    public void ExtensionModulesOfLibDynloadImportAsInTheNativeLink(string executor)
    {
        var b = Built.Value;
        var native = NativeComparison.RunNative(b.Native, b.Object, b.Dir);
        Assert.Equal(7, native.ExitCode); // the program's own status: the script ran to the end
        Assert.Contains("_json:_json.cpython-311", native.StdoutText);
        var jit = NativeComparison.RunOrcsharp(b.Dir, executor == "oop", [b.Object, b.Archive, "-l", "expat", "-l", "z", "-l", "m"]);
        NativeComparison.AssertSame(native, jit);
    }
}
