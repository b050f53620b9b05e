using System.Text.RegularExpressions;
using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Debugging;

/// <summary>
/// The crash report: when JIT'd code dies of a signal, the one error line, then the signal with its
/// faulting address and the backtrace whose JIT'd frames name function, offset, source line (with -g)
/// and object; then the run ends by the same signal (exit status 128+N, as the native program's). In
/// process and in a child executor, for every signal handled, and for a stack overflow.
/// </summary>
public class CrashReportTests
{
    // crash_here(kind) dies of the signal `kind` names, on line 16 for every kind but SIGABRT (line 15).
    const string Source = """
        #define _GNU_SOURCE
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/mman.h>
        int *volatile target;
        volatile int zero;
        __attribute__((noinline)) int crash_here(const char *kind)
        {
          char *page = 0;
          if (!strcmp(kind, "SIGBUS"))
            page = mmap(0, 4096, PROT_READ, MAP_SHARED, memfd_create("empty", 0), 0);
          if (!strcmp(kind, "SIGABRT"))
            abort();
          int v = !strcmp(kind, "SIGILL") ? (__builtin_trap(), 0) : !strcmp(kind, "SIGFPE") ? (int)strlen(kind) / zero : page ? page[0] : *target;
          return v;
        }
        int main(int argc, char **argv)
        {
          printf("about to die of %s\n", argv[1]);
          fflush(stdout);
          return crash_here(argv[1]) + 1;
        }
        """;

    public static IEnumerable<object[]> Cases() =>
        from sig in new[] { ("SIGSEGV", 11), ("SIGBUS", 7), ("SIGILL", 4), ("SIGFPE", 8), ("SIGABRT", 6) }
        from g in new[] { true, false }
        from oop in new[] { false, true }
        select new object[] { sig.Item1, sig.Item2, g, oop };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReportNamesTheJitdFramesAndEndsByTheSignal(string signal, int number, bool debugInfo, bool outOfProcess)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "crash", Source, debugInfo ? "-O1 -g" : "-O1");
        var r = Run(outOfProcess, obj, "--", signal);
        Assert.Equal(128 + number, r.ExitCode);
        Assert.Equal($"about to die of {signal}\n", r.StdoutText);
        var lines = r.StderrText.Split('\n');
        Assert.Equal($"orcsharp: error: {(outOfProcess ? "executor" : "program")} terminated by signal {signal}", lines[0]);
        if (signal == "SIGABRT") Assert.Matches(@"^SIGABRT raised by the program, thread \d+$", lines[1]);
        else Assert.Matches($@"^{signal} \([a-z -]+\) at address 0x[0-9a-f]+, thread \d+$", lines[1]);
        if (signal == "SIGSEGV") Assert.Contains("(address not mapped to object) at address 0x0,", lines[1]);
        if (signal == "SIGFPE") Assert.Contains("(integer divide by zero)", lines[1]);

        // The frame that died (for abort, the JIT'd frame that called it) and its caller.
        string line = signal == "SIGABRT" ? "15" : "16";
        string where = debugInfo ? $@" \(\S*crash\.c:{line}\)" : "";
        var jit = lines.Where(l => l.Contains("[crash.o]")).ToList();
        Assert.True(jit.Count == 2, r.StderrText);
        Assert.Matches($@"^#\d+ crash_here\+0x[0-9a-f]+{where} \[crash\.o\]$", jit[0]);
        Assert.Matches($@"^#\d+ main\+0x[0-9a-f]+{(debugInfo ? @" \(\S*crash\.c:23\)" : "")} \[crash\.o\]$", jit[1]);
        if (signal != "SIGABRT") Assert.StartsWith("#0 crash_here+0x", lines[2]);
        else Assert.Matches(@"^#0 \S*libc\.so\.6\(", lines[2]); // library frames as backtrace_symbols names them
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StackOverflowIsReportedFromTheAlternateStack(bool outOfProcess)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "deep", """
            #include <stdio.h>
            int depth(int n) { volatile char pad[64]; pad[0] = (char)n; return depth(n + 1) + pad[0]; }
            int main(void) { return depth(0); }
            """, "-O1 -g");
        var r = Run(outOfProcess, obj);
        Assert.Equal(139, r.ExitCode);
        var lines = r.StderrText.TrimEnd('\n').Split('\n');
        Assert.EndsWith("terminated by signal SIGSEGV", lines[0]);
        Assert.Matches(@"^SIGSEGV \(.+\) at address 0x[0-9a-f]+ \(stack overflow\), thread \d+$", lines[1]);
        Assert.Matches(@"^#0 depth\+0x[0-9a-f]+ \(\S*deep\.c:2\) \[deep\.o\]$", lines[2]);
        var skipped = lines.Single(l => l.StartsWith("... "));
        Assert.True(long.Parse(Regex.Match(skipped, @"\d+").Value) > 10000, skipped);
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^#\d+ main\+0x[0-9a-f]+ \(\S*deep\.c:3\) \[deep\.o\]$"));
    }

    /// <summary>Library frames read exactly as backtrace_symbols writes them: the JIT'd comparator that qsort
    /// calls prints backtrace_symbols of its own stack, then faults; every frame of the report that is not
    /// JIT'd (qsort's own, the host's, libc's start) is one of those lines, word for word.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LibraryFramesAreNamedAsBacktraceSymbolsNamesThem(bool outOfProcess)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "sorter", """
            #include <execinfo.h>
            #include <stdio.h>
            #include <stdlib.h>
            int *volatile target;
            static int compare(const void *a, const void *b)
            {
              void *frames[64];
              int n = backtrace(frames, 64);
              char **names = backtrace_symbols(frames, n);
              for (int i = 0; i < n; i++) printf("%s\n", names[i]);
              fflush(stdout);
              return *target + *(const int *)a - *(const int *)b;
            }
            int main(void)
            {
              int v[] = { 3, 1, 2 };
              qsort(v, 3, sizeof v[0], compare);
              return v[0];
            }
            """, "-O1 -g");
        var r = Run(outOfProcess, obj);
        Assert.Equal(139, r.ExitCode);
        var symbols = r.StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var frames = r.StderrText.Split('\n').Select(l => Regex.Match(l, @"^#\d+ (.+)$")).Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();
        Assert.Matches(@"^compare\+0x[0-9a-f]+ \(\S*sorter\.c:12\) \[sorter\.o\]$", frames[0]);
        var library = frames.Where(f => !f.EndsWith(" [sorter.o]")).ToList();
        Assert.Contains(library, f => f.Contains("libc.so.6(qsort")); // qsort's frames are there, named as libc's
        Assert.True(library.Count >= 3, r.StderrText);
        Assert.All(library, f => Assert.True(symbols.Contains(f), $"'{f}' is not a line of backtrace_symbols:\n{r.StdoutText}"));
    }

    /// <summary>--no-backtrace: the run ends exactly as the native program does, nothing added.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoBacktraceEndsLikeTheNativeProgram(bool outOfProcess)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "crash", Source, "-O1 -g");
        var r = Run(outOfProcess, obj, "--no-backtrace", "--", "SIGSEGV");
        Assert.Equal(139, r.ExitCode);
        Assert.Equal("about to die of SIGSEGV\n", r.StdoutText);
        Assert.Equal("", r.StderrText);
    }

    static ProcessResult Run(bool outOfProcess, string obj, params string[] rest) =>
        TestSupport.RunOrcsharp(["run", .. outOfProcess ? ["--oop"] : Array.Empty<string>(), obj, .. rest]);
}
