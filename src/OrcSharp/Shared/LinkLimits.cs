namespace OrcSharp.Shared;

/// <summary>
/// Upper bounds on what an input may ask for, checked before anything is allocated: a hostile 5 KB
/// object must not make the linker reserve or commit gigabytes. Each limit is far above what real
/// programs use and at or below what a native link of the same program could run.
/// </summary>
public static class LinkLimits
{
    /// <summary>Largest section or common-symbol alignment (real code asks for at most a huge page, 2 MiB).</summary>
    public const ulong MaxAlignment = 16UL << 20;

    /// <summary>Largest section, common symbol or link image: a 32-bit displacement (what -fno-pic code
    /// and PC-relative references to libraries use) cannot span more.</summary>
    public const ulong MaxImageBytes = 2UL << 30;

    /// <summary>Largest thread-local block: every thread gets a copy, and glibc cannot start a process
    /// whose static TLS reserve is much larger (the restart then dies before main).</summary>
    public const ulong MaxThreadLocalBytes = 1UL << 30;

    /// <summary>Largest input file: object offsets are 32-bit in spans, and no real object is near it.</summary>
    public const long MaxInputBytes = int.MaxValue;

    public static string Describe(ulong bytes) =>
        bytes >= 1UL << 30 && bytes % (1UL << 30) == 0 ? $"{bytes >> 30} GiB"
        : bytes >= 1UL << 20 && bytes % (1UL << 20) == 0 ? $"{bytes >> 20} MiB"
        : $"{bytes} bytes";
}
