using OrcSharp.Conformance;
using OrcSharp.Executor.InProcess;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Platform;

/// <summary>The process entry layout (argv, envp, auxiliary vector in one block, as the kernel lays them
/// out) for main and for initializers; tests/corpus/c/entry_layout.c checks it field by field.</summary>
public class EntryLayoutTests
{
    const string GoSource = """
        package main

        import "C"

        import (
        	"fmt"
        	"os"
        	"sync"
        )

        //export GoWork
        func GoWork(n C.int) C.int {
        	var wg sync.WaitGroup
        	squares := make([]int, int(n))
        	for i := range squares {
        		wg.Add(1)
        		go func(i int) { defer wg.Done(); squares[i] = i * i }(i)
        	}
        	wg.Wait()
        	sum := 0
        	for _, s := range squares {
        		sum += s
        	}
        	fmt.Printf("go: %d goroutines, sum %d, page size %d, args %q, PATH set %v\n", n, sum, os.Getpagesize(), os.Args[1:], os.Getenv("PATH") != "")
        	return C.int(sum)
        }

        func main() {}
        """;

    const string GoCaller = """
        #include <stdio.h>
        extern int GoWork(int);
        int main(int argc, char **argv)
        {
          int sum = GoWork(8);
          printf("c: %d from %d arguments\n", sum, argc);
          return sum == 140 ? 0 : 1;
        }
        """;

    /// <summary>Go's c-archive runtime starts from an .init_array entry that walks past envp to the
    /// auxiliary vector (it died with "failed to get system page size"), then serves calls from C.</summary>
    [Theory]
    [MemberData(nameof(NativeComparison.AllModes), MemberType = typeof(NativeComparison))]
    public void GoCArchiveRunsLikeItsNativeLink(RunMode mode)
    {
        string dir = TestSupport.NewTempDir();
        NativeComparison.Write(dir, "work.go", GoSource);
        var env = new Dictionary<string, string> { ["CGO_ENABLED"] = "1", ["CC"] = NativeComparison.Compiler(mode, cxx: false) };
        if (mode == RunMode.AArch64) env["GOARCH"] = "arm64";
        var go = ProcessRunner.Run("go", ["build", "-buildmode=c-archive", "-o", "libwork.a", "work.go"], dir, 600000, env);
        Assert.True(go.ExitCode == 0, "go build (Debian package golang-go) failed: " + go.StderrText);
        string main = NativeComparison.Compile(mode, NativeComparison.Write(dir, "main.c", GoCaller));
        NativeComparison.AssertMatchesNative(mode, [main, Path.Combine(dir, "libwork.a")], programArgs: ["alpha", "beta gamma"]);
    }

    /// <summary>Initializers run through the library API (as dlopen runs them) get this process's own
    /// argc, argv and envp, with the auxiliary vector after envp.</summary>
    [Fact]
    public unsafe void InitializersOutsideAProgramGetThisProcessesBlock()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "init", """
            #include <elf.h>
            #include <string.h>
            #include <sys/auxv.h>
            static int seen_argc = -1, envp_follows, pagesz_found;
            static char first_arg[256];
            __attribute__((constructor)) static void probe(int argc, char **argv, char **envp)
            {
              seen_argc = argc;
              if (argc > 0) strncpy(first_arg, argv[0], sizeof first_arg - 1);
              envp_follows = envp == argv + argc + 1;
              char **e = envp;
              while (*e) e++;
              for (Elf64_auxv_t *a = (Elf64_auxv_t *)(e + 1); a->a_type != AT_NULL; a++)
                if (a->a_type == AT_PAGESZ && a->a_un.a_val == getauxval(AT_PAGESZ)) pagesz_found = 1;
            }
            int seen(void) { return seen_argc; }
            int follows(void) { return envp_follows; }
            int pagesz(void) { return pagesz_found; }
            const char *arg0(void) { return first_arg; }
            """);
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var jd = TestSupport.LinkNew(session, "init", cxx: false, obj);
        session.Initialize(jd);
        int Call(string name) => ((delegate* unmanaged<int>)jd.Lookup(name)!.Value.Value)();
        var cmdline = File.ReadAllText("/proc/self/cmdline").Split('\0')[..^1];
        Assert.Equal(cmdline.Length, Call("seen"));
        Assert.Equal(cmdline[0], System.Runtime.InteropServices.Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)jd.Lookup("arg0")!.Value.Value)()));
        Assert.Equal(1, Call("follows"));
        Assert.Equal(1, Call("pagesz"));
        session.RemoveJITDylib(jd);
    }
}
