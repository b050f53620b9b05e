using System.Runtime.InteropServices;
using OrcSharp.Executor.InProcess;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Platform;

/// <summary>Each link is a loaded image to the rest of this process (the library API, in process): its
/// exported definitions are in the dynamic loader's global scope, dladdr and dl_iterate_phdr report it,
/// and removing it takes all of that away again.</summary>
public unsafe class LoadedImageTests
{
    [DllImport("libc.so.6")] static extern nint dlsym(nint handle, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    [DllImport("libc.so.6")] static extern nint dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);
    [DllImport("libc.so.6")] static extern int dlclose(nint handle);
    [DllImport("libc.so.6")] static extern int dladdr(nint address, DlInfo* info);
    [DllImport("libc.so.6")] static extern int dl_iterate_phdr(delegate* unmanaged<PhdrInfo*, nuint, nint, int> callback, nint data);

#pragma warning disable CS0649 // filled in by libc
    struct DlInfo { public nint FName, FBase, SName, SAddr; }
    struct PhdrInfo { public ulong Addr; public nint Name; public nint Phdr; public ushort PhNum; }
    struct Phdr { public uint Type, Flags; public ulong Offset, VAddr, PAddr, FileSz, MemSz, Align; }
#pragma warning restore CS0649
    struct Query { public ulong Address; public nint Name; public uint Flags; }

    const int RtldNow = 2;
    static readonly nint RtldDefault = 0;

    /// <summary>The image whose PT_LOAD holds <paramref name="address"/>: its name and the segment's flags.</summary>
    static (string? Name, uint Flags) ImageOf(nint address)
    {
        var q = new Query { Address = (ulong)address };
        dl_iterate_phdr(&Visit, (nint)(&q));
        return (q.Name == 0 ? null : Marshal.PtrToStringUTF8(q.Name), q.Flags);
    }

    [UnmanagedCallersOnly]
    static int Visit(PhdrInfo* info, nuint size, nint data)
    {
        var q = (Query*)data;
        foreach (var ph in new ReadOnlySpan<Phdr>((void*)info->Phdr, info->PhNum))
            if (ph.Type == 1 && q->Address - (info->Addr + ph.VAddr) < ph.MemSz)
            {
                q->Name = info->Name;
                q->Flags = ph.Flags;
                return 1;
            }
        return 0;
    }

    static string? NameAt(nint address)
    {
        DlInfo info;
        return dladdr(address, &info) != 0 && info.SName != 0 ? Marshal.PtrToStringUTF8(info.SName) : null;
    }

    [Fact]
    public void ExportedDefinitionsAreVisibleUntilTheirJITDylibIsRemoved()
    {
        string dir = TestSupport.NewTempDir();
        string tag = "img" + Guid.NewGuid().ToString("N")[..8];
        string obj = TestSupport.CompileC(dir, "exports", $$"""
            int {{tag}}_data = 17;
            static int {{tag}}_static(int x) { return x + 1; }
            __attribute__((visibility("hidden"))) int {{tag}}_hidden(int x) { return {{tag}}_static(x) * 2; }
            int {{tag}}_fn(int x) { return {{tag}}_hidden(x) + {{tag}}_data; }
            """, "-O1 -fPIC");
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        for (int round = 0; round < 3; round++)
        {
            var jd = TestSupport.LinkNew(session, "exports", cxx: false, obj);
            jd.ImageName = $"{tag}-image-{round}";
            nint fn = (nint)jd.Lookup($"{tag}_fn")!.Value.Value, data = (nint)jd.Lookup($"{tag}_data")!.Value.Value;
            Assert.Equal(fn, dlsym(RtldDefault, $"{tag}_fn"));
            Assert.Equal(data, dlsym(RtldDefault, $"{tag}_data"));
            Assert.Equal(0, dlsym(RtldDefault, $"{tag}_hidden")); // hidden: not exported, as -rdynamic would not
            Assert.Equal(0, dlsym(RtldDefault, $"{tag}_static"));
            Assert.Equal(33, ((delegate* unmanaged<int, int>)dlsym(RtldDefault, $"{tag}_fn"))(7));

            Assert.Equal($"{tag}_fn", NameAt(fn + 1));
            Assert.Equal($"{tag}_data", NameAt(data));
            // The name is given after the link, so this image is the first link's: the JITDylib's name.
            Assert.Equal(("exports", 5u), ImageOf(fn)); // PF_R | PF_X
            Assert.Equal(("exports", 6u), ImageOf(data)); // PF_R | PF_W

            session.RemoveJITDylib(jd);
            Assert.Equal(0, dlsym(RtldDefault, $"{tag}_fn"));
            Assert.Equal(0, dlsym(RtldDefault, $"{tag}_data"));
            Assert.Null(NameAt(fn));
            Assert.Null(ImageOf(fn).Name);
        }
    }

    [Fact]
    public void ImageNameIsTheJITDylibsImageName()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "named", "int named_image_fn(void) { return 3; }\n", "-O1 -fPIC");
        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var jd = session.CreateJITDylib("lib");
        jd.ImageName = "my-program";
        jd.AddObject(obj, File.ReadAllBytes(obj));
        var unit = jd.Link();
        nint fn = (nint)jd.Lookup("named_image_fn")!.Value.Value;
        Assert.Equal("my-program", ImageOf(fn).Name);
        DlInfo info;
        Assert.NotEqual(0, dladdr(fn, &info));
        Assert.Equal("my-program", Marshal.PtrToStringUTF8(info.FName));
        session.RemoveUnit(unit);
    }

    /// <summary>A library opened after the link binds to its definitions. Removing the unit while the
    /// library is still open takes the names out of the global scope even though the loader keeps the
    /// unit's stub object alive for the library (it recorded the binding); the library's own bindings
    /// then point at freed memory, which is the caller's to avoid.</summary>
    [Fact]
    public void LibraryOpenedLaterBindsToTheUnitAndRemovalTakesTheNamesOut()
    {
        string dir = TestSupport.NewTempDir();
        string tag = "late" + Guid.NewGuid().ToString("N")[..8];
        string obj = TestSupport.CompileC(dir, "host", $"int {tag}_base = 40;\nint {tag}_add(int a) {{ return a + {tag}_base; }}\n", "-O1 -fPIC");
        string pluginObj = TestSupport.CompileC(dir, "plugin", $$"""
            extern int {{tag}}_base;
            int {{tag}}_add(int);
            int plugin_call(int x) { {{tag}}_base++; return {{tag}}_add(x); }
            """, "-O1 -fPIC");
        string plugin = Path.Combine(dir, "plugin.so");
        Assert.Equal(0, TestSupport.Run("gcc", "-shared", pluginObj, "-o", plugin).ExitCode);

        var executor = new InProcessExecutorControl();
        using var session = new ExecutionSession(executor);
        var jd = TestSupport.LinkNew(session, "host", cxx: false, obj);
        var unit = jd.Units[0];
        nint lib = dlopen(plugin, RtldNow);
        Assert.NotEqual(0, lib);
        Assert.Equal(42, ((delegate* unmanaged<int, int>)dlsym(lib, "plugin_call"))(1));
        Assert.Equal(41, *(int*)jd.Lookup($"{tag}_base")!.Value.Value);

        session.RemoveUnit(unit);
        Assert.Equal(0, dlsym(RtldDefault, $"{tag}_add"));
        Assert.Equal(0, dlsym(RtldDefault, $"{tag}_base"));
        Assert.Equal(0, dlclose(lib));

        // The names can be defined again, and are found at their new addresses.
        jd.AddObject(obj, File.ReadAllBytes(obj));
        jd.Link();
        Assert.Equal((nint)jd.Lookup($"{tag}_add")!.Value.Value, dlsym(RtldDefault, $"{tag}_add"));
        session.RemoveJITDylib(jd);
    }

    /// <summary>A debugger reads each in-memory object's name from the loader when dlopen notifies it and
    /// opens that path itself: it must name the object (/proc/PID/fd/N), not one of the debugger's own
    /// descriptors (/proc/self/fd/N made GDB block on its own pipe). A program with thread-locals loads
    /// two such objects (TLS module and image).</summary>
    [Fact]
    public void GdbReadsTheLoaderListWithoutBlocking()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "aborts", "#include <stdlib.h>\n__thread int t = 3;\nint main(void) { if (t == 3) abort(); return 0; }\n", "-O0");
        string cli = Path.Combine(TestSupport.RepoRoot, ".cache", "orcsharp-cli", "OrcSharp.Cli");
        Assert.Equal(0, TestSupport.RunOrcsharp("run", "--noexec", obj).ExitCode); // builds the CLI if needed
        var r = OrcSharp.Conformance.ProcessRunner.Run("gdb", ["-batch", "-nx", "-ex", "run", "-ex", "bt 1", "--args", cli, "run", obj], dir, timeoutMs: 120000);
        Assert.False(r.TimedOut, "gdb did not finish");
        Assert.Contains("SIGABRT", r.StdoutText);
    }
}
