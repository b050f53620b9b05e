using System.Text;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>Executor-side batched symbol lookup over dlopen'ed libraries, in link order.</summary>
public static unsafe class SymbolLookup
{
    /// <summary>dlopen for JIT'd code (global scope, bound now); new memory is then placed near it.</summary>
    public static ExecutorAddr LoadLibrary(string path, ExecutorMemory memory)
    {
        nint h = LibC.dlopen(path, LibC.RtldNow | LibC.RtldGlobal);
        if (h == 0) throw new LinkError($"cannot load shared library {path}: {LibC.LastDlError()}");
        memory.NoteLibrary(path);
        lock (Loaded) Loaded.Add((ulong)h);
        return new ExecutorAddr((ulong)h);
    }

    /// <summary>The process itself as a library (dlopen of no file: the global scope), as LLVM's controller
    /// asks for it with an empty path.</summary>
    public static ExecutorAddr LoadProcess()
    {
        nint h = LibC.dlopen(null, LibC.RtldNow | LibC.RtldGlobal);
        if (h == 0) throw new LinkError($"cannot open the executor process as a library: {LibC.LastDlError()}");
        lock (Loaded) Loaded.Add((ulong)h);
        Volatile.Write(ref _process, (ulong)h);
        return new ExecutorAddr((ulong)h);
    }

    static ulong _process;

    /// <summary>Whether <paramref name="handle"/> is the process itself (<see cref="LoadProcess"/>).</summary>
    public static bool IsProcess(ExecutorAddr handle) => handle.Value != 0 && handle.Value == Volatile.Read(ref _process);

    /// <summary>Handles <see cref="LoadLibrary"/> gave out: the only ones a lookup may search (dlsym
    /// dereferences its handle).</summary>
    static readonly HashSet<ulong> Loaded = new();

    public static ExecutorAddr?[] Lookup(IReadOnlyList<ExecutorAddr> libraries, IReadOnlyList<string> names)
    {
        lock (Loaded)
            foreach (var lib in libraries)
                if (!Loaded.Contains(lib.Value)) throw new LinkError($"executor: no library has handle {lib}");
        var result = new ExecutorAddr?[names.Count];
        Span<byte> buf = stackalloc byte[512];
        for (int i = 0; i < names.Count; i++)
        {
            string name = names[i];
            int n = Encoding.UTF8.GetByteCount(name);
            Span<byte> z = n < buf.Length ? buf : new byte[n + 1];
            Encoding.UTF8.GetBytes(name, z);
            z[n] = 0;
            fixed (byte* p = z)
                foreach (var lib in libraries)
                {
                    nint a = LibC.dlsym((nint)lib.Value, p);
                    if (a != 0) { result[i] = new ExecutorAddr((ulong)a); break; }
                }
        }
        return result;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    struct DlInfo { public nint FName, FBase, SName, SAddr; }

    [System.Runtime.InteropServices.DllImport("libc.so.6")]
    static extern int dladdr1(nint addr, DlInfo* info, ObjectFile.Elf.Elf64Symbol** extra, int flags);

    /// <summary>Whether <paramref name="addr"/> is where a function of a loaded object starts (one the
    /// dynamic loader can name), such as a library function an initializer table points at.</summary>
    public static bool IsFunction(ExecutorAddr addr)
    {
        DlInfo info;
        ObjectFile.Elf.Elf64Symbol* sym = null;
        return dladdr1((nint)addr.Value, &info, &sym, 1 /* RTLD_DL_SYMENT */) != 0 && sym != null && (ulong)info.SAddr == addr.Value &&
               sym->Type is ObjectFile.Elf.ElfAbi.SttFunc or ObjectFile.Elf.ElfAbi.SttGnuIfunc;
    }

    /// <summary>Size and type of the symbols at these addresses, from the dynamic loader's symbol tables.</summary>
    public static Executor.SymbolDescription?[] Describe(IReadOnlyList<ExecutorAddr> addresses)
    {
        var result = new Executor.SymbolDescription?[addresses.Count];
        for (int i = 0; i < result.Length; i++)
        {
            DlInfo info;
            ObjectFile.Elf.Elf64Symbol* sym = null;
            // dladdr1 fills the four-pointer Dl_info and points sym at the loader's own symbol entry.
            if (dladdr1((nint)addresses[i].Value, &info, &sym, 1 /* RTLD_DL_SYMENT */) == 0 || sym == null) continue;
            if ((ulong)info.SAddr != addresses[i].Value) continue;
            byte type = sym->Type;
            result[i] = new Executor.SymbolDescription(sym->Size, type is ObjectFile.Elf.ElfAbi.SttObject or ObjectFile.Elf.ElfAbi.SttNoType or ObjectFile.Elf.ElfAbi.SttCommon);
        }
        return result;
    }
}
