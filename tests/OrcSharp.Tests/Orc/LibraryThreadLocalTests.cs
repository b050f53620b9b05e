using OrcSharp.Conformance;
using OrcSharp.Executor.InProcess;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Orc;

/// <summary>
/// Thread-locals defined by shared libraries, reached from JIT'd code in every TLS model, in every
/// thread, and agreeing with the library's own accesses: a library built here, libstdc++'s
/// (std::call_once), and static ICU's.
/// </summary>
public class LibraryThreadLocalTests
{
    const string Library = """
        __thread int lib_counter = 7;
        __thread char lib_word[16] = "initial";
        __thread long lib_zeroed;
        int *lib_counter_address(void) { return &lib_counter; }
        char *lib_word_address(void) { return lib_word; }
        void lib_bump(void) { lib_counter++; lib_zeroed += 2; }
        """;

    const string Program = """
        #include <pthread.h>
        #include <stdio.h>
        #include <string.h>
        extern __thread int lib_counter;
        extern __thread char lib_word[16];
        extern __thread long lib_zeroed;
        int *lib_counter_address(void);
        char *lib_word_address(void);
        void lib_bump(void);

        static void *report(void *who)
        {
          int same = &lib_counter == lib_counter_address() && lib_word == lib_word_address();
          int before = lib_counter;
          lib_counter += 10;
          lib_bump();
          strcpy(lib_word, (const char *)who);
          printf("%s: initial %d, now %d, word %s, zeroed %ld, same address as the library's %d\n",
                 (const char *)who, before, lib_counter, lib_word_address(), lib_zeroed, same);
          return NULL;
        }

        int main(void)
        {
          report("main");
          static const char *names[] = { "thread-1", "thread-2", "thread-3" };
          for (int i = 0; i < 3; i++)
          {
            pthread_t t;
            pthread_create(&t, NULL, report, (void *)names[i]);
            pthread_join(t, NULL);
          }
          report("main again");
          return 0;
        }
        """;

    /// <summary>The compiler flags of each model for an extern thread-local: initial-exec (PIE, -fno-pic,
    /// -fPIC with the model forced), general-dynamic (-fPIC) and descriptors (gnu2). Local-dynamic is a
    /// model for a module's own thread-locals only: gcc's local-dynamic code for another module's
    /// thread-local is refused by ld itself (unresolvable R_X86_64_DTPOFF32), so it has no oracle.</summary>
    public static IEnumerable<object[]> ModelsAndModes() =>
        from model in new[] { "-O2", "-O0", "-O2 -fno-pic", "-O0 -fno-pic", "-O2 -fPIC", "-O0 -fPIC",
                              "-O2 -fPIC -ftls-model=initial-exec", "-O2 -fPIC -mtls-dialect=gnu2", "-O0 -fPIC -mtls-dialect=gnu2" }
        from mode in new[] { RunMode.InProcess, RunMode.OutOfProcess, RunMode.AArch64 }
        // AArch64 has one dynamic dialect (descriptors, the default): x86-64's gnu2 flag does not exist there.
        where !(mode == RunMode.AArch64 && model.Contains("gnu2"))
        select new object[] { model, mode };

    [Theory]
    [MemberData(nameof(ModelsAndModes))]
    public void OwnLibrarysThreadLocalsFromEveryModelAndThread(string flags, RunMode mode)
    {
        string dir = TestSupport.NewTempDir();
        string lib = BuildLibrary(mode, dir);
        string main = NativeComparison.Compile(mode, NativeComparison.Write(dir, "main.c", Program), flags);
        var noPie = flags.Contains("-fno-pic") ? new[] { "-no-pie" } : [];
        var r = NativeComparison.AssertMatchesNative(mode, [main, lib], nativeLinkFlags: noPie);
        Assert.Contains("thread-3: initial 7, now 18, word thread-3, zeroed 2, same address as the library's 1", r.StdoutText);
    }

    static string BuildLibrary(RunMode mode, string dir)
    {
        string src = NativeComparison.Write(dir, "tlsdata.c", Library), so = Path.Combine(dir, "libtlsdata.so");
        var r = ProcessRunner.Run(NativeComparison.Compiler(mode, cxx: false), ["-shared", "-fPIC", "-O2", src, "-o", so], dir);
        Assert.True(r.ExitCode == 0, r.StderrText);
        return so;
    }

    /// <summary>Threads of the host that exist before the link, and threads created after it, each see
    /// their own initialized copy of the library's thread-locals through JIT'd initial-exec code.</summary>
    [Fact]
    public unsafe void HostThreadsFromBeforeTheLinkSeeTheLibrarysThreadLocals()
    {
        string dir = TestSupport.NewTempDir();
        string lib = BuildLibrary(RunMode.InProcess, dir);
        string obj = TestSupport.CompileC(dir, "use", """
            extern __thread int lib_counter;
            int *lib_counter_address(void);
            int probe(int add) { int before = lib_counter; lib_counter += add; return &lib_counter == lib_counter_address() ? before : -1; }
            int current(void) { return lib_counter; }
            """, "-O2");
        using var linked = new ManualResetEventSlim();
        using var done = new CountdownEvent(3);
        using var release = new ManualResetEventSlim();
        var results = new (int Before, int After)[3];
        delegate* unmanaged<int, int> probe = null;
        delegate* unmanaged<int> current = null;
        void Probe(int slot)
        {
            results[slot] = (probe(slot + 1), current());
            done.Signal();
            release.Wait();
        }
        var early = Enumerable.Range(0, 2).Select(i => new Thread(() => { linked.Wait(); Probe(i); })).ToList();
        early.ForEach(t => t.Start());

        using var session = new ExecutionSession(new InProcessExecutorControl());
        var jd = session.CreateJITDylib("use");
        var loader = new InputLoader(jd, []);
        loader.AddFile(obj);
        loader.AddFile(lib);
        loader.AddDefaultLibraries(cxx: false);
        jd.Link();
        probe = (delegate* unmanaged<int, int>)jd.Lookup("probe")!.Value.Value;
        current = (delegate* unmanaged<int>)jd.Lookup("current")!.Value.Value;
        linked.Set();
        var late = new Thread(() => Probe(2));
        late.Start();
        Assert.True(done.Wait(30000));
        Assert.Equal([(7, 8), (7, 9), (7, 10)], results);
        Assert.Equal(7, probe(100));
        Assert.Equal(107, current());
        release.Set();
        early.ForEach(t => Assert.True(t.Join(30000)));
        Assert.True(late.Join(30000));
        session.RemoveJITDylib(jd);
    }

    const string CallOnce = """
        #include <cstdio>
        #include <mutex>
        #include <thread>
        #include <vector>

        static std::once_flag once;
        static std::mutex lock;
        static int initialized, calls;

        int main()
        {
          std::vector<std::thread> threads;
          for (int i = 0; i < 6; i++)
            threads.emplace_back([i] {
              std::call_once(once, [i] { initialized++; });
              std::lock_guard<std::mutex> guard(lock);
              calls++;
            });
          for (auto &t : threads) t.join();
          std::once_flag again;
          std::call_once(again, [](int x) { std::printf("main thread call_once %d\n", x); }, 42);
          std::printf("initialized %d time(s), %d calls\n", initialized, calls);
          return 0;
        }
        """;

    /// <summary>std::call_once (inline code that sets libstdc++'s thread-locals __once_callable and
    /// __once_call) with std::thread, as any C++ program that uses it: it failed to link.</summary>
    [Theory]
    [MemberData(nameof(NativeComparison.AllModes), MemberType = typeof(NativeComparison))]
    public void CallOnceWithThreads(RunMode mode)
    {
        string dir = TestSupport.NewTempDir();
        foreach (string flags in new[] { "-O2", "-O0", "-O2 -fPIC" })
        {
            string obj = NativeComparison.Compile(mode, NativeComparison.Write(dir, "once.cpp", CallOnce), flags);
            var r = NativeComparison.AssertMatchesNative(mode, [obj], cxx: true);
            Assert.Equal("main thread call_once 42\ninitialized 1 time(s), 6 calls\n", r.StdoutText);
        }
    }

    const string LargeLibrary = """
        __thread char big_block[65536] = { 1, 2, 3 };
        __thread int big_counter = 5;
        char *big_address(void) { return big_block; }
        """;

    const string LargeUser = """
        #include <stdio.h>
        extern __thread char big_block[65536];
        extern __thread int big_counter;
        char *big_address(void);
        int main(void)
        {
          big_block[65535] = 9;
          printf("%d %d %d %d, same address as the library's %d\n", big_block[0], big_block[2], big_block[65535], big_counter, big_address() == big_block);
          return 0;
        }
        """;

    /// <summary>A library whose thread-locals exceed glibc's static TLS reserve: moving its block takes
    /// the static-TLS restart (a child executor, or this process, started again with a reserve that fits).</summary>
    [Theory]
    [MemberData(nameof(NativeComparison.AllModes), MemberType = typeof(NativeComparison))]
    public void LibraryBlockLargerThanTheReserveTakesTheRestart(RunMode mode)
    {
        string dir = TestSupport.NewTempDir();
        string src = NativeComparison.Write(dir, "big.c", LargeLibrary), so = Path.Combine(dir, "libbig.so");
        var r = ProcessRunner.Run(NativeComparison.Compiler(mode, cxx: false), ["-shared", "-fPIC", "-O2", src, "-o", so], dir);
        Assert.True(r.ExitCode == 0, r.StderrText);
        string main = NativeComparison.Compile(mode, NativeComparison.Write(dir, "main.c", LargeUser));
        var run = NativeComparison.AssertMatchesNative(mode, [main, so]);
        Assert.Equal("1 3 9 5, same address as the library's 1\n", run.StdoutText);
    }

    const string Icu = """
        #include <unicode/normalizer2.h>
        #include <unicode/uchar.h>
        #include <unicode/ucnv.h>
        #include <unicode/unistr.h>
        #include <cstdio>
        #include <string>
        #include <thread>

        static void normalize(const char *who)
        {
          UErrorCode status = U_ZERO_ERROR;
          const icu::Normalizer2 *nfd = icu::Normalizer2::getNFDInstance(status);
          const icu::Normalizer2 *nfc = icu::Normalizer2::getNFCInstance(status);
          icu::UnicodeString text = icu::UnicodeString::fromUTF8("Caf\xC3\xA9 \xC3\x85ngstr\xC3\xB6m \xEF\xAC\x81");
          icu::UnicodeString decomposed = nfd->normalize(text, status);
          icu::UnicodeString composed = nfc->normalize(decomposed, status);
          std::printf("%s: NFD %d code units, NFC %d, round trip %d, %s\n", who, decomposed.length(), composed.length(), composed == text, u_errorName(status));
        }

        int main()
        {
          normalize("main");
          std::thread([] { normalize("thread"); }).join();
          UErrorCode status = U_ZERO_ERROR;
          icu::UnicodeString upper = icu::UnicodeString::fromUTF8("Stra\xC3\x9F" "e \xC3\xA9t\xC3\xA9");
          upper.toUpper();
          std::string utf8;
          upper.toUTF8String(utf8);
          UConverter *latin1 = ucnv_open("ISO-8859-1", &status);
          char bytes[64];
          int32_t n = ucnv_fromUChars(latin1, bytes, sizeof bytes, upper.getBuffer(), upper.length(), &status);
          ucnv_close(latin1);
          std::printf("upper %s, %d ISO-8859-1 bytes (%s), U+00E9 is category %d\n", utf8.c_str(), n, u_errorName(status), u_charType(0xE9));
          return 0;
        }
        """;

    /// <summary>Static ICU (Debian's libicuuc.a and libicui18n.a, whose umutex uses std::call_once):
    /// normalization, case mapping and conversion, in two threads. x86-64 only: Debian's arm64 ICU
    /// (libicu-dev:arm64) needs the arm64 architecture added to dpkg, which this machine does not have.</summary>
    [Theory]
    [InlineData(RunMode.InProcess)]
    [InlineData(RunMode.OutOfProcess)]
    public void StaticIcu(RunMode mode)
    {
        const string lib = "/usr/lib/x86_64-linux-gnu";
        foreach (var a in new[] { "libicui18n.a", "libicuuc.a", "libicudata.a" })
            Assert.True(File.Exists(Path.Combine(lib, a)), $"{a} is missing (Debian package libicu-dev; .ci/run installs it)");
        string dir = TestSupport.NewTempDir();
        string obj = NativeComparison.Compile(mode, NativeComparison.Write(dir, "icu.cpp", Icu));
        var r = NativeComparison.AssertMatchesNative(mode, [obj, $"{lib}/libicui18n.a", $"{lib}/libicuuc.a", $"{lib}/libicudata.a"], cxx: true, nativeLinkFlags: ["-ldl", "-lm"]);
        Assert.Contains("thread: NFD 18 code units, NFC 15, round trip 1, U_ZERO_ERROR", r.StdoutText);
    }
}
