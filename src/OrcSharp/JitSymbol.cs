using OrcSharp.Shared;

namespace OrcSharp;

/// <summary>A symbol found by <see cref="Jit.Lookup"/>: its name and its address in the executor.</summary>
/// <param name="Name">The name looked up.</param>
/// <param name="Address">Its address in the executor (in this process when the executor runs in process).</param>
public readonly record struct JitSymbol(string Name, ExecutorAddr Address)
{
    /// <summary>The address as a pointer, to cast to a function pointer type:
    /// <c>var add = (delegate* unmanaged&lt;int, int, int&gt;)jit.Lookup("add").ToPointer();</c>
    /// Meaningful only when the executor runs in this process.</summary>
    public unsafe void* ToPointer() => (void*)Address.Value;

    /// <summary>The address as a native integer (in-process executors).</summary>
    public nint ToIntPtr() => (nint)Address.Value;
}
