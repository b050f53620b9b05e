using OrcSharp.Conformance;
using OrcSharp.Executor.InProcess;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Orc;

/// <summary>Thread-locals through the library API: every thread of the host sees its own initialized copy,
/// whether it existed before the link, was created after it, or is the thread that linked.</summary>
public class ThreadLocalTests
{
    const string Source = """
        _Thread_local int value = 42;
        _Thread_local char zeroed[100];
        static _Thread_local long hidden = 7;
        int get_value(void) { return value + zeroed[99] + (int)hidden - 7; }
        void set_value(int v) { value = v; zeroed[99] = 0; }
        void *value_addr(void) { return &value; }
        """;

    public static IEnumerable<object[]> Models =>
    [
        ["-O2"], ["-O0"], ["-O2 -fPIC -ftls-model=global-dynamic"], ["-O2 -fPIC -ftls-model=local-dynamic"],
        ["-O2 -fPIC -ftls-model=initial-exec"], ["-O2 -fPIC -mtls-dialect=gnu2"],
    ];

    [Theory]
    [MemberData(nameof(Models))]
    public unsafe void EveryHostThreadSeesItsOwnInitializedCopy(string flags)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "tls", Source, flags);

        // Threads that exist before the code is linked, parked until it is.
        using var linked = new ManualResetEventSlim();
        var results = new (int Initial, int Mine, nint Addr)[3];
        delegate* unmanaged<int> get = null;
        delegate* unmanaged<int, void> set = null;
        delegate* unmanaged<nint> addr = null;
        // Every probing thread stays alive until all have probed, so no two can share a thread block.
        using var probed = new CountdownEvent(3);
        using var release = new ManualResetEventSlim();
        void Probe(int slot)
        {
            int initial = get();
            set(100 + slot);
            results[slot] = (initial, get(), addr());
            probed.Signal();
            release.Wait();
        }
        var early = Enumerable.Range(0, 2).Select(i => new Thread(() => { linked.Wait(); Probe(i); })).ToList();
        early.ForEach(t => t.Start());

        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var jd = TestSupport.LinkNew(session, "tls", cxx: false, obj);
        get = (delegate* unmanaged<int>)jd.Lookup("get_value")!.Value.Value;
        set = (delegate* unmanaged<int, void>)jd.Lookup("set_value")!.Value.Value;
        addr = (delegate* unmanaged<nint>)jd.Lookup("value_addr")!.Value.Value;

        linked.Set();
        var late = new Thread(() => Probe(2));
        late.Start();
        Assert.True(probed.Wait(30000));

        int mainInitial = get();
        set(7);
        Assert.Equal(42, mainInitial);
        Assert.Equal(7, get());
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(42, results[i].Initial);
            Assert.Equal(100 + i, results[i].Mine);
        }
        var addrs = results.Select(r => r.Addr).Append(addr()).ToList();
        Assert.Equal(addrs.Count, addrs.Distinct().Count());
        release.Set();
        early.ForEach(t => Assert.True(t.Join(30000)));
        Assert.True(late.Join(30000));
        session.RemoveJITDylib(jd);
    }

    /// <summary>Code that does not use the psABI sequences keeps its dynamic form: a GOT pair for
    /// __tls_get_addr (general- and local-dynamic), a TP-offset GOT entry (initial-exec) and a static TLS
    /// descriptor. Each function reads a different thread-local through one of them.</summary>
    [Fact]
    public unsafe void UnrelaxableSequencesUseRealGotEntries()
    {
        string dir = TestSupport.NewTempDir();
        string data = TestSupport.CompileC(dir, "data", """
            _Thread_local long gd_var = 11;
            _Thread_local long ld_var = 22;
            _Thread_local long ie_var = 33;
            _Thread_local long desc_var = 44;
            """, "-O2 -fPIC");
        string asm = Path.Combine(dir, "access.s");
        File.WriteAllText(asm, """
                .text
                .globl read_gd, read_ld, read_ie, read_desc
            read_gd:                        # no data16 prefixes: not the relaxable sequence
                subq $8, %rsp
                leaq gd_var@tlsgd(%rip), %rdi
                call __tls_get_addr@PLT
                movq (%rax), %rax
                addq $8, %rsp
                ret
            read_ld:                        # a nop between lea and call: not the relaxable sequence
                subq $8, %rsp
                leaq ld_var@tlsld(%rip), %rdi
                nop
                call __tls_get_addr@PLT
                movq ld_var@dtpoff(%rax), %rax
                addq $8, %rsp
                ret
            read_ie:                        # a sign-extending load of the GOT entry: not movq/addq
                movslq ie_var@gottpoff(%rip), %rax
                movq %fs:(%rax), %rax
                ret
            read_desc:                      # descriptor address built in %rcx: not the relaxable lea
                leaq desc_var@tlsdesc(%rip), %rcx
                movq %rcx, %rax
                call *desc_var@tlscall(%rax)
                movq %fs:(%rax), %rax
                ret
                .section .note.GNU-stack,"",@progbits

            """);
        string access = Path.Combine(dir, "access.o");
        var asr = ProcessRunner.Run("cc", ["-c", asm, "-o", access], dir);
        Assert.True(asr.ExitCode == 0, asr.StderrText);

        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var jd = TestSupport.LinkNew(session, "fallback", cxx: false, data, access);
        long Read(string fn) => ((delegate* unmanaged<long>)jd.Lookup(fn)!.Value.Value)();
        long[] Snapshot() => [Read("read_gd"), Read("read_ld"), Read("read_ie"), Read("read_desc")];
        Assert.Equal([11L, 22L, 33L, 44L], Snapshot());
        long[]? other = null;
        var t = new Thread(() => other = Snapshot());
        t.Start();
        Assert.True(t.Join(30000));
        Assert.Equal([11L, 22L, 33L, 44L], other!);
        session.RemoveJITDylib(jd);
    }

    /// <summary>Two links with thread-locals alive at once (a REPL adding code): each has its own block.</summary>
    [Fact]
    public unsafe void TwoLinksKeepSeparateBlocks()
    {
        string dir = TestSupport.NewTempDir();
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var fns = new List<nint>();
        foreach (var (name, init) in new[] { ("first", 1), ("second", 2) })
        {
            string obj = TestSupport.CompileC(dir, name, $"_Thread_local int v = {init};\nint {name}(int add) {{ v += add; return v; }}\n", "-O2 -fPIC");
            var jd = TestSupport.LinkNew(session, name, cxx: false, obj);
            fns.Add((nint)jd.Lookup(name)!.Value.Value);
        }
        var first = (delegate* unmanaged<int, int>)fns[0];
        var second = (delegate* unmanaged<int, int>)fns[1];
        Assert.Equal(11, first(10));
        Assert.Equal(22, second(20));
        Assert.Equal(12, first(1));
        Assert.Equal(24, second(2));
    }

    /// <summary>A REPL adds code in steps: a thread-local defined by one link is used by a later one, in
    /// every model, with one address per thread shared by both.</summary>
    [Theory]
    [MemberData(nameof(Models))]
    public unsafe void LaterLinksShareAnEarlierLinksThreadLocals(string flags)
    {
        string dir = TestSupport.NewTempDir();
        string first = TestSupport.CompileC(dir, "first", "_Thread_local int counter = 5;\nint *first_addr(void) { return &counter; }\n", flags);
        string second = TestSupport.CompileC(dir, "second",
            "extern _Thread_local int counter;\nint bump(int by) { counter += by; return counter; }\nint *second_addr(void) { return &counter; }\n", flags);
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var jd = TestSupport.LinkNew(session, "repl", cxx: false, first);
        jd.AddObject(second, File.ReadAllBytes(second));
        jd.Link();
        var bump = (delegate* unmanaged<int, int>)jd.Lookup("bump")!.Value.Value;
        var firstAddr = (delegate* unmanaged<nint>)jd.Lookup("first_addr")!.Value.Value;
        var secondAddr = (delegate* unmanaged<nint>)jd.Lookup("second_addr")!.Value.Value;
        (int, bool) Probe(int by) => (bump(by), firstAddr() == secondAddr());
        Assert.Equal((15, true), Probe(10));
        (int, bool) other = default;
        nint otherAddr = 0;
        var t = new Thread(() => { other = Probe(1); otherAddr = firstAddr(); });
        t.Start();
        Assert.True(t.Join(30000));
        Assert.Equal((6, true), other);
        Assert.NotEqual(firstAddr(), otherAddr);
        Assert.Equal(16, bump(1));
        session.RemoveJITDylib(jd);
    }
}
