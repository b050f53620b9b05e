namespace OrcSharp.Shared;

/// <summary>Page protections of a segment in the executor.</summary>
[Flags]
public enum MemProt : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    Exec = 4,
}

/// <summary>How long a segment lives. Standard: until deallocated. Finalize: only until finalization ends
/// (memory that exists just so finalize actions can read it).</summary>
public enum MemLifetime : byte
{
    Standard = 0,
    Finalize = 1,
}

/// <summary>The key that groups blocks into segments: same protection, same lifetime.</summary>
public readonly record struct AllocGroup(MemProt Prot, MemLifetime Lifetime)
{
    public override string ToString() =>
        $"{((Prot & MemProt.Read) != 0 ? 'R' : '-')}{((Prot & MemProt.Write) != 0 ? 'W' : '-')}{((Prot & MemProt.Exec) != 0 ? 'X' : '-')}" +
        (Lifetime == MemLifetime.Finalize ? " finalize" : "");
}
