using OrcSharp.Executor.InProcess;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Orc;

/// <summary>The library API end to end in this process: add, initialize, call, remove, add again.</summary>
public class UnloadingTests
{
    [Fact]
    public unsafe void RemovedJITDylibRunsItsDestructorsAndAtexitHandlersAndFreesItsMemory()
    {
        string dir = TestSupport.NewTempDir();
        string log = Path.Combine(dir, "events.txt");
        string src = $$"""
            #include <stdio.h>
            #include <stdlib.h>
            static void note(const char *m) { FILE *f = fopen("{{log}}", "a"); fputs(m, f); fclose(f); }
            static void on_exit_handler(void) { note("atexit\n"); }
            __attribute__((constructor)) static void ctor(void) { note("ctor\n"); atexit(on_exit_handler); }
            __attribute__((destructor)) static void dtor(void) { note("dtor\n"); }
            int plugin_value(int x) { return x * 6; }
            """;
        string obj = TestSupport.CompileC(dir, "plugin", src, "-O2 -fPIC");
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        int liveBefore = executor.MemoryManager.LiveAllocations;
        string expected = "";
        for (int round = 0; round < 3; round++)
        {
            var jd = TestSupport.LinkNew(session, "plugin", cxx: false, obj);
            Assert.True(executor.MemoryManager.LiveAllocations > liveBefore);
            session.Initialize(jd);
            expected += "ctor\n";
            Assert.Equal(expected, File.ReadAllText(log));

            var fn = (delegate* unmanaged<int, int>)jd.Lookup("plugin_value")!.Value.Value;
            Assert.Equal(42, fn(7));

            session.RemoveJITDylib(jd);
            expected += "dtor\natexit\n"; // dlclose order: fini array, then __cxa_finalize's handlers
            Assert.Equal(expected, File.ReadAllText(log));
            Assert.Equal(liveBefore, executor.MemoryManager.LiveAllocations);
            Assert.Null(jd.Lookup("plugin_value"));
        }
    }

    /// <summary>A resource tracker: removing one link unit runs only its destructors and the atexit
    /// handlers its code registered, frees only its memory, and lets its names be linked again while the
    /// rest of the JITDylib keeps working.</summary>
    [Fact]
    public unsafe void RemovingOneUnitLeavesTheRestOfItsJITDylib()
    {
        string dir = TestSupport.NewTempDir();
        string log = Path.Combine(dir, "events.txt");
        string Note(string tag) => $$"""
            #include <stdio.h>
            #include <stdlib.h>
            static void note(const char *m) { FILE *f = fopen("{{log}}", "a"); fputs(m, f); fclose(f); }
            static void on_exit_handler(void) { note("{{tag}} atexit\n"); }
            __attribute__((constructor)) static void ctor(void) { note("{{tag}} ctor\n"); atexit(on_exit_handler); }
            __attribute__((destructor)) static void dtor(void) { note("{{tag}} dtor\n"); }
            """;
        string baseObj = TestSupport.CompileC(dir, "base", Note("base") + "int base_scale(int x) { return x * 2; }\n", "-O2 -fPIC");
        string[] plugins = new[] { 1, 2 }.Select(v => TestSupport.CompileC(dir, $"plugin{v}",
            Note($"plugin{v}") + $"int base_scale(int);\nint plugin_value(int x) {{ return base_scale(x) + {v}; }}\n", "-O2 -fPIC")).ToArray();

        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var jd = TestSupport.LinkNew(session, "app", cxx: false, baseObj);
        session.Initialize(jd);
        int liveWithBase = executor.MemoryManager.LiveAllocations;
        string expected = "base ctor\n";

        for (int v = 1; v <= 2; v++)
        {
            jd.AddObject(plugins[v - 1], File.ReadAllBytes(plugins[v - 1]));
            var unit = jd.Link();
            session.Initialize(jd);
            expected += $"plugin{v} ctor\n";
            Assert.Equal(expected, File.ReadAllText(log));
            Assert.NotEqual(jd.DsoHandle, unit.DsoHandle);
            var fn = (delegate* unmanaged<int, int>)jd.Lookup("plugin_value")!.Value.Value;
            Assert.Equal(20 + v, fn(10));

            session.RemoveUnit(unit);
            expected += $"plugin{v} dtor\nplugin{v} atexit\n";
            Assert.Equal(expected, File.ReadAllText(log));
            Assert.Equal(liveWithBase, executor.MemoryManager.LiveAllocations);
            Assert.Null(jd.Lookup("plugin_value"));
            var scale = (delegate* unmanaged<int, int>)jd.Lookup("base_scale")!.Value.Value;
            Assert.Equal(14, scale(7));
        }

        session.RemoveJITDylib(jd);
        Assert.Equal(expected + "base dtor\nbase atexit\n", File.ReadAllText(log));
    }

    [System.Runtime.InteropServices.DllImport("libgcc_s.so.1")]
    static extern unsafe nint _Unwind_Find_FDE(nint pc, nint* bases);

    /// <summary>C++ exceptions thrown through JIT'd frames are caught; once the unit is removed the system
    /// unwinder no longer knows its frames (deregistered), and new code in the reused memory unwinds with
    /// its own tables.</summary>
    [Fact]
    public unsafe void RemovedCodeCanNoLongerBeUnwoundInto()
    {
        string dir = TestSupport.NewTempDir();
        string Source(int v) => $$"""
            #include <stdexcept>
            struct Guard { int *hits; ~Guard() { ++*hits; } };
            __attribute__((noinline)) static void thrower(int *hits) { Guard g{hits}; throw std::runtime_error("v{{v}}"); }
            extern "C" int catch_through(int *hits) {
              try { Guard g{hits}; thrower(hits); } catch (const std::runtime_error &e) { return e.what()[1] - '0'; }
              return -1;
            }
            """;
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        nint* bases = stackalloc nint[3];
        for (int v = 1; v <= 3; v++)
        {
            string obj = TestSupport.CompileCxx(dir, $"thrower{v}", Source(v), "-O2 -fPIC");
            var jd = TestSupport.LinkNew(session, "thrower", cxx: true, obj);
            session.Initialize(jd);
            nint fn = (nint)jd.Lookup("catch_through")!.Value.Value;
            int hits = 0;
            Assert.Equal(v, ((delegate* unmanaged<int*, int>)fn)(&hits));
            Assert.Equal(2, hits); // both destructors ran during unwinding

            Assert.NotEqual(0, _Unwind_Find_FDE(fn + 1, bases));
            session.RemoveJITDylib(jd);
            Assert.Equal(0, _Unwind_Find_FDE(fn + 1, bases));
        }
    }

    /// <summary>A long-lived host linking and removing over and over keeps its memory map flat: input
    /// mappings are released after each link, archives are shared, executor memory is reused.</summary>
    [Fact]
    public void RepeatedLinksDoNotAccumulateMappings()
    {
        string dir = TestSupport.NewTempDir();
        // Over the size that inputs are memory-mapped at, so the mapping path is exercised.
        string obj = TestSupport.CompileC(dir, "big", "static char pad[400000] = {1};\nint main(void) { return pad[7]; }\n", "-O2");
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        int Maps() => File.ReadAllLines("/proc/self/maps").Length;
        int before = 0;
        for (int i = 0; i < 400; i++)
        {
            if (i == 50) before = Maps();
            var jd = TestSupport.LinkNew(session, "again", cxx: false, obj);
            session.RemoveJITDylib(jd);
        }
        Assert.InRange(Maps(), 0, before + 40);
        Assert.Equal(0, executor.MemoryManager.LiveAllocations);
    }
}
