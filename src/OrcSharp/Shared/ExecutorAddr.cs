namespace OrcSharp.Shared;

/// <summary>An address in the executor process. Never a managed pointer: linking happens in these terms
/// so the same code links for this process, a child process or another architecture.</summary>
public readonly record struct ExecutorAddr(ulong Value) : IComparable<ExecutorAddr>
{
    public static readonly ExecutorAddr Null = default;
    public bool IsNull => Value == 0;
    public static ExecutorAddr operator +(ExecutorAddr a, ulong offset) => new(a.Value + offset);
    public static ExecutorAddr operator -(ExecutorAddr a, ulong offset) => new(a.Value - offset);
    public static ulong operator -(ExecutorAddr a, ExecutorAddr b) => a.Value - b.Value;
    public static bool operator <(ExecutorAddr a, ExecutorAddr b) => a.Value < b.Value;
    public static bool operator >(ExecutorAddr a, ExecutorAddr b) => a.Value > b.Value;
    public static bool operator <=(ExecutorAddr a, ExecutorAddr b) => a.Value <= b.Value;
    public static bool operator >=(ExecutorAddr a, ExecutorAddr b) => a.Value >= b.Value;
    public int CompareTo(ExecutorAddr other) => Value.CompareTo(other.Value);
    public ExecutorAddr AlignUp(ulong alignment) => new((Value + alignment - 1) & ~(alignment - 1));
    public override string ToString() => $"0x{Value:x}";
}

/// <summary>A half-open range [Start, End) of executor addresses.</summary>
public readonly record struct ExecutorAddrRange(ExecutorAddr Start, ulong Size)
{
    public ExecutorAddr End => Start + Size;
    public bool Contains(ExecutorAddr a) => a >= Start && a < End;
}
