using Xunit;

namespace OrcSharp.Tests.Platform;

/// <summary>Indirect functions (STT_GNU_IFUNC) beyond the corpus cases c/ifunc_*: one address for every
/// reference in every object, and a resolver that crashes.</summary>
public class IndirectFunctionTests
{
    const string Impl = """
        static int pick_impl(int x) { return x + 100; }
        static void *resolve_pick(void) { return (void *)pick_impl; }
        int pick(int x) __attribute__((ifunc("resolve_pick")));
        int (*taken_where_defined(void))(int) { return pick; }
        int (*const stored_where_defined)(int) = pick;
        """;

    const string Main = """
        #include <stdio.h>
        int pick(int x);
        int (*taken_where_defined(void))(int);
        extern int (*const stored_where_defined)(int);
        int (*const stored_here)(int) = pick;
        int main(void)
        {
          int (*volatile taken_here)(int) = pick;
          printf("%d %d %d\n", pick(1), taken_where_defined()(2), stored_where_defined(3));
          printf("one address: %d %d %d %d\n", taken_here == stored_here, taken_here == taken_where_defined(),
                 taken_here == stored_where_defined, stored_here == pick);
          return 0;
        }
        """;

    /// <summary>Calls, GOT loads, PC-relative address-taking in the defining object and pointers in data
    /// all see the stub. The oracle is the native non-PIE link (its PLT entry is canonical): a native PIE
    /// link gives the defining object the PLT entry and the other the resolved function.</summary>
    [Theory]
    [MemberData(nameof(NativeComparison.AllModes), MemberType = typeof(NativeComparison))]
    public void EveryReferenceSeesOneAddress(RunMode mode)
    {
        string dir = TestSupport.NewTempDir();
        string impl = NativeComparison.Write(dir, "impl.c", Impl), main = NativeComparison.Write(dir, "main.c", Main);
        var nonPie = new[] { NativeComparison.Compile(mode, main, "-O2 -fno-pic", Path.Combine(dir, "main-nopic.o")),
                             NativeComparison.Compile(mode, impl, "-O2 -fno-pic", Path.Combine(dir, "impl-nopic.o")) };
        var native = NativeComparison.AssertMatchesNative(mode, nonPie, nativeLinkFlags: ["-no-pie"]);
        Assert.Contains("one address: 1 1 1 1", native.StdoutText);
        foreach (string flags in new[] { "-O2", "-O0", "-O2 -fPIC" })
        {
            var pie = new[] { NativeComparison.Compile(mode, main, flags, Path.Combine(dir, "main.o")),
                              NativeComparison.Compile(mode, impl, flags, Path.Combine(dir, "impl.o")) };
            var r = NativeComparison.RunOrcsharp(mode, pie);
            Assert.Equal((native.StdoutText, native.StderrText, 0), (r.StdoutText, r.StderrText, r.ExitCode));
        }
    }

    const string Crash = """
        #include <stdio.h>
        static void *resolve_boom(void) { volatile int *p = 0; return (void *)(long)*p; }
        int boom(void) __attribute__((ifunc("resolve_boom")));
        __attribute__((constructor)) static void early(void) { puts("an initializer ran"); }
        int main(void) { puts("main ran"); return boom(); }
        """;

    /// <summary>In process the crash is the program's, as natively (killed by SIGSEGV before any
    /// initializer); out of process it is the executor's one line.</summary>
    [Theory]
    [MemberData(nameof(NativeComparison.AllModes), MemberType = typeof(NativeComparison))]
    public void CrashingResolver(RunMode mode)
    {
        string dir = TestSupport.NewTempDir();
        string obj = NativeComparison.Compile(mode, NativeComparison.Write(dir, "crash.c", Crash));
        if (mode == RunMode.InProcess)
        {
            var r = NativeComparison.AssertMatchesNative(mode, [obj]);
            Assert.Equal(128 + 11, r.ExitCode);
            return;
        }
        var oop = NativeComparison.RunOrcsharp(mode, [obj]);
        Assert.Equal(1, oop.ExitCode);
        Assert.Empty(oop.Stdout);
        // Under qemu-user the emulator reports the guest's signal on its own line first.
        Assert.EndsWith("orcsharp: error: executor terminated by signal SIGSEGV\n", oop.StderrText);
        if (mode == RunMode.OutOfProcess) Assert.Equal("orcsharp: error: executor terminated by signal SIGSEGV\n", oop.StderrText);
    }
}
