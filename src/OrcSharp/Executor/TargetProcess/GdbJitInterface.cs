using System.Runtime.InteropServices;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// The executor's side of the GDB JIT interface (GDB manual, "JIT Compilation Interface"; LLDB reads it
/// too): a list of in-memory object files hanging off <c>__jit_debug_descriptor</c>, and a call to
/// <c>__jit_debug_register_code</c>, where the debugger keeps a breakpoint, after each change. Both symbols
/// are exported by the orcsharp executable (src/OrcSharp.Cli/Native/jit_debug_interface.c) and found here by
/// name, so this process shares them with any other JIT in it. A host that exports none (a test host)
/// gets a private descriptor: the list is kept the same way, and no debugger sees it.
/// </summary>
public static unsafe class GdbJitInterface
{
    [StructLayout(LayoutKind.Sequential)]
    struct CodeEntry
    {
        public CodeEntry* Next, Prev;
        public byte* SymfileAddr;
        public ulong SymfileSize;
    }

    [StructLayout(LayoutKind.Sequential)]
    struct Descriptor
    {
        public uint Version, ActionFlag;
        public CodeEntry* RelevantEntry, FirstEntry;
    }

    const uint NoAction = 0, RegisterFn = 1, UnregisterFn = 2;

    static readonly Descriptor* _descriptor;
    static readonly delegate* unmanaged<void> _notify;
    static readonly object _lock = new();

    static GdbJitInterface()
    {
        _descriptor = (Descriptor*)LibC.dlsym(0, "__jit_debug_descriptor");
        _notify = (delegate* unmanaged<void>)LibC.dlsym(0, "__jit_debug_register_code");
        if (_descriptor == null || _notify == null)
        {
            _descriptor = (Descriptor*)NativeMemory.AllocZeroed((nuint)sizeof(Descriptor));
            _descriptor->Version = 1;
            _notify = null;
        }
    }

    /// <summary>Whether a debugger can see the list (the process exports the interface's symbols).</summary>
    public static bool IsExported => _notify != null;

    /// <summary>Adds an object file (it must stay in memory until <see cref="Unregister"/>); returns its entry.</summary>
    public static nint Register(byte* image, ulong size)
    {
        var e = (CodeEntry*)NativeMemory.AllocZeroed((nuint)sizeof(CodeEntry));
        e->SymfileAddr = image;
        e->SymfileSize = size;
        lock (_lock)
        {
            e->Next = _descriptor->FirstEntry;
            if (e->Next != null) e->Next->Prev = e;
            _descriptor->FirstEntry = e;
            Notify(e, RegisterFn);
        }
        return (nint)e;
    }

    /// <summary>Takes an entry off the list; the debugger forgets its object file.</summary>
    public static void Unregister(nint entry)
    {
        var e = (CodeEntry*)entry;
        lock (_lock)
        {
            if (e->Prev != null) e->Prev->Next = e->Next;
            else _descriptor->FirstEntry = e->Next;
            if (e->Next != null) e->Next->Prev = e->Prev;
            Notify(e, UnregisterFn);
        }
        NativeMemory.Free(e);
    }

    static void Notify(CodeEntry* e, uint action)
    {
        _descriptor->RelevantEntry = e;
        _descriptor->ActionFlag = action;
        if (_notify != null) _notify();
        _descriptor->ActionFlag = NoAction;
    }

    /// <summary>The object files on the list now (address and size), first registered last.</summary>
    public static List<(nint Address, ulong Size)> Entries()
    {
        var list = new List<(nint, ulong)>();
        lock (_lock)
            for (var e = _descriptor->FirstEntry; e != null; e = e->Next) list.Add(((nint)e->SymfileAddr, e->SymfileSize));
        return list;
    }
}
