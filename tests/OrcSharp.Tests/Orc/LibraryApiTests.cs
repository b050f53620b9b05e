using Xunit;
using OrcSharp.Orc;

namespace OrcSharp.Tests.Orc;

/// <summary>The public entry point (<see cref="Jit"/>) and the typed errors: each failure carries the names
/// and inputs as properties, with the one-line message the CLI prints unchanged.</summary>
public sealed class LibraryApiTests
{
    [Fact]
    public void DuplicateStrongDefinitionAcrossUnitsNamesBothInputs()
    {
        string dir = TestSupport.NewTempDir();
        string a = TestSupport.CompileC(dir, "first", "int twice(int x) { return 2 * x; }\n");
        string b = TestSupport.CompileC(dir, "second", "int twice(int x) { return x + x; }\n");
        using var jit = Jit.Create();
        jit.AddObject(a);
        var unit = jit.Link()!;
        jit.AddObject(b);
        var e = Assert.Throws<DuplicateSymbolException>(() => jit.Link());
        Assert.Equal("twice", e.SymbolName);
        Assert.Equal(a, e.FirstInput);
        Assert.Equal(b, e.SecondInput);
        Assert.Equal($"duplicate symbol 'twice': defined in {a} and in {b} (JITDylib 'main'; replace a unit with Replace)", e.Message);
        // Nothing was linked: the first definition is still the one found, and replacing is allowed.
        Assert.Single(jit.MainJITDylib.Units);
        var replaced = jit.Replace(unit, [b]);
        Assert.Equal(replaced.Definitions["twice"].Address, jit.Lookup("twice").Address);
        Assert.Single(jit.MainJITDylib.Units);
    }

    [Fact]
    public void WeakDefinitionsInTwoUnitsAreNotDuplicates()
    {
        string dir = TestSupport.NewTempDir();
        string a = TestSupport.CompileC(dir, "weak1", "__attribute__((weak)) int shared_helper(void) { return 1; }\nint one(void) { return shared_helper(); }\n");
        string b = TestSupport.CompileC(dir, "weak2", "__attribute__((weak)) int shared_helper(void) { return 2; }\nint two(void) { return shared_helper(); }\n");
        using var jit = Jit.Create();
        jit.AddObject(a);
        jit.Link();
        jit.AddObject(b);
        jit.Link();
        Assert.Equal(1L, jit.CallAsync("one").Result);
    }

    [Fact]
    public void LookupOfAMissingNameIsTypedAndNamesIt()
    {
        string dir = TestSupport.NewTempDir();
        using var jit = Jit.Create();
        jit.AddObject(TestSupport.CompileC(dir, "f", "int f(void) { return 1; }\n"));
        var e = Assert.Throws<UndefinedSymbolException>(() => jit.Lookup("g"));
        Assert.Equal("g", e.SymbolName);
        Assert.Null(e.ReferencedBy);
        Assert.Equal("symbol 'g' is not defined in JITDylib 'main'", e.Message);
    }

    [Fact]
    public void UndefinedReferenceIsTypedWithItsInputAndTheCliMessage()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "uses", "int missing_one(void); int missing_two(void);\nint f(void) { return missing_one() + missing_two(); }\n");
        using var jit = Jit.Create();
        jit.AddObject(obj);
        var e = Assert.Throws<UndefinedSymbolException>(() => jit.Link());
        Assert.Equal(obj, e.ReferencedBy);
        Assert.Equal(["missing_one", "missing_two"], new[] { e.SymbolName }.Concat(e.OtherSymbols).Order());
        Assert.StartsWith($"undefined symbol '{e.SymbolName}', referenced by {obj} (and 1 more: ", e.Message);
        Assert.IsAssignableFrom<OrcSharpException>(e);
    }

    [Fact]
    public void MalformedObjectIsABadObjectFile()
    {
        string dir = TestSupport.NewTempDir();
        var bytes = File.ReadAllBytes(TestSupport.CompileC(dir, "ok", "int f(void) { return 1; }\n"));
        using var jit = Jit.Create();
        jit.AddObject("truncated.o", bytes.AsMemory(0, 100));
        var e = Assert.Throws<BadObjectFileException>(() => jit.Link());
        Assert.Equal("truncated.o", e.InputName);
        Assert.StartsWith("truncated.o", e.Message);
    }

    [Fact]
    public void ExecutorLostIsTyped()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "die", "#include <signal.h>\nint die(void) { raise(SIGKILL); return 0; }\nint live(void) { return 5; }\n");
        using var jit = Jit.Create(JitOptions.ChildProcess(TestSupport.OrcsharpBinary));
        jit.AddObject(obj);
        Assert.Equal(5L, jit.CallAsync("live").Result);
        var died = Assert.ThrowsAny<OrcSharpException>(() => jit.CallAsync("die").GetAwaiter().GetResult());
        Assert.Contains("SIGKILL", died.Message);
        var lost = Assert.Throws<ExecutorLostException>(() => jit.CallAsync("live").GetAwaiter().GetResult());
        Assert.Contains("SIGKILL", lost.Reason);
    }

    [Fact]
    public void DisposeRunsEveryJITDylibsFinalizersNewestFirst()
    {
        string dir = TestSupport.NewTempDir();
        string log = Path.Combine(dir, "log");
        string Source(string tag) => $$"""
            #include <stdio.h>
            #include <stdlib.h>
            static void note(const char *s) { FILE *f = fopen("{{log}}", "a"); fputs(s, f); fclose(f); }
            static void bye(void) { note("{{tag}} atexit\n"); }
            __attribute__((constructor)) static void ctor(void) { atexit(bye); }
            __attribute__((destructor)) static void dtor(void) { note("{{tag}} dtor\n"); }
            int {{tag}}_value(void) { return 1; }
            """;
        var jit = Jit.Create();
        jit.AddObject(TestSupport.CompileC(dir, "first", Source("first")));
        var second = jit.CreateJITDylib("second");
        jit.AddObject(TestSupport.CompileC(dir, "second", Source("second")), second);
        jit.Initialize();
        jit.Initialize(second);
        int live = jit.Session.Executor.MemoryManager.LiveAllocations;
        Assert.True(live >= 2);
        jit.Dispose();
        Assert.Equal("second dtor\nsecond atexit\nfirst dtor\nfirst atexit\n", File.ReadAllText(log));
    }

    [Fact]
    public void LinkOrderBindsToDefaultVisibilityOnly()
    {
        string dir = TestSupport.NewTempDir();
        using var jit = Jit.Create();
        var lib = jit.CreateJITDylib("lib");
        jit.AddObject(TestSupport.CompileC(dir, "lib", "int visible(void) { return 3; }\n__attribute__((visibility(\"hidden\"))) int private_one(void) { return 4; }\n"), lib);
        var app = jit.CreateJITDylib("app");
        app.AddToLinkOrder(lib);
        jit.AddObject(TestSupport.CompileC(dir, "app", "int visible(void);\nint use(void) { return visible() * 10; }\n"), app);
        Assert.Equal(30L, jit.CallAsync(jit.Lookup("use", app)).Result);
        var hidden = jit.CreateJITDylib("hidden");
        hidden.AddToLinkOrder(lib);
        jit.AddObject(TestSupport.CompileC(dir, "hid", "int private_one(void);\nint use2(void) { return private_one(); }\n"), hidden);
        Assert.Equal("private_one", Assert.Throws<UndefinedSymbolException>(() => jit.Link(hidden)).SymbolName);
    }
}
