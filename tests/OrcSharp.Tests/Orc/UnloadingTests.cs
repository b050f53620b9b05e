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
            var jd = session.CreateJITDylib("plugin");
            var loader = new InputLoader(jd, []);
            loader.AddFile(obj);
            loader.AddDefaultLibraries(cxx: false);
            jd.Link();
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
}
