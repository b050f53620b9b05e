using System.Runtime.InteropServices;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// What the kernel puts at the top of a new process's stack, rebuilt for a JIT'd program in one
/// contiguous block: argv pointers and NULL, envp pointers and NULL, then the auxiliary vector (type,
/// value pairs ending with AT_NULL). Runtimes that walk past envp to find AT_PAGESZ, AT_RANDOM or
/// AT_HWCAP (Go's, for one) find them where they would in a natively started program. The auxiliary
/// vector is this process's own (from /proc/self/auxv, which qemu-user emulates for its guest), so
/// getauxval agrees with it. The block lives until the process ends.
/// </summary>
public readonly unsafe struct EntryBlock
{
    const ulong AtNull = 0;
    /// <summary>Types asked of getauxval when /proc/self/auxv cannot be read (a process without /proc).</summary>
    static readonly ulong[] FallbackTypes = [3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 23, 25, 26, 31, 33, 51];

    public int Argc { get; }
    public nint* Argv { get; }
    public nint* Envp { get; }

    EntryBlock(int argc, nint* argv, nint* envp) { Argc = argc; Argv = argv; Envp = envp; }

    /// <summary>Builds the block for <paramref name="arguments"/> with the environment strings that
    /// <paramref name="environ"/> lists now (the strings are shared, the pointer array is new).</summary>
    public static EntryBlock Build(IReadOnlyList<string> arguments, nint* environ)
    {
        int envc = 0;
        if (environ != null) while (environ[envc] != 0) envc++;
        var auxv = AuxiliaryVector();
        int words = arguments.Count + 1 + envc + 1 + auxv.Length;
        var block = (nint*)NativeMemory.AllocZeroed((nuint)words, (nuint)sizeof(nint));
        var argv = block;
        for (int i = 0; i < arguments.Count; i++) argv[i] = Marshal.StringToCoTaskMemUTF8(arguments[i]);
        var envp = argv + arguments.Count + 1;
        for (int i = 0; i < envc; i++) envp[i] = environ[i];
        var aux = envp + envc + 1;
        for (int i = 0; i < auxv.Length; i++) aux[i] = (nint)auxv[i];
        return new EntryBlock(arguments.Count, argv, envp);
    }

    /// <summary>Frees a block made by <see cref="Build"/> (argument strings and pointer array; the
    /// environment strings are not its own), once nothing uses it: after a main that returned.</summary>
    public void Free()
    {
        for (int i = 0; i < Argc; i++) Marshal.FreeCoTaskMem(Argv[i]);
        NativeMemory.Free(Argv);
    }

    /// <summary>The block for initializers that run outside a program start (as dlopen runs them): the
    /// process's own command line and environment.</summary>
    public static EntryBlock ForThisProcess(Func<string, nint> libcSymbol)
    {
        string[] args;
        try { args = File.ReadAllText("/proc/self/cmdline").Split('\0')[..^1]; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { args = [Environment.ProcessPath ?? ""]; }
        nint environPtr = libcSymbol("environ");
        return Build(args, environPtr == 0 ? null : *(nint**)environPtr);
    }

    /// <summary>Makes the program's view of itself agree with the block: environ is its envp, and
    /// program_invocation_name (short name: after the last '/') is its argv[0]. Each variable is set
    /// where it lives now: in JIT'd code's copy when non-PIC code has one.</summary>
    public void Publish(Func<string, nint> libcSymbol)
    {
        Set(libcSymbol("environ"), (nint)Envp);
        if (Argc == 0) return;
        nint name = Argv[0];
        nint shortName = name;
        for (byte* p = (byte*)name; *p != 0; p++) if (*p == (byte)'/') shortName = (nint)(p + 1);
        Set(libcSymbol("program_invocation_name"), name);
        Set(libcSymbol("program_invocation_short_name"), shortName);
    }

    static void Set(nint variable, nint value)
    {
        if (variable != 0) *(nint*)CopyRelocationRuntime.CurrentAddress(variable) = value;
    }

    /// <summary>The auxiliary vector as (type, value) words ending with AT_NULL.</summary>
    static ulong[] AuxiliaryVector()
    {
        byte[]? raw = null;
        try { raw = File.ReadAllBytes("/proc/self/auxv"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        var words = new List<ulong>();
        if (raw is { Length: >= 16 })
        {
            var pairs = MemoryMarshal.Cast<byte, ulong>(raw.AsSpan(0, raw.Length & ~15));
            for (int i = 0; i + 1 < pairs.Length && pairs[i] != AtNull; i += 2) { words.Add(pairs[i]); words.Add(pairs[i + 1]); }
        }
        else
        {
            foreach (ulong type in FallbackTypes)
                if (LibC.getauxval(type) is var value and not 0) { words.Add(type); words.Add(value); }
        }
        words.Add(AtNull);
        words.Add(0);
        return words.ToArray();
    }
}
