using System.Globalization;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Finds free address space within reach (±2 GiB, with margin) of the process's shared libraries, so
/// PC-relative references from JIT'd code to library data (what gcc emits for PIE code, relying on copy
/// relocations in a native link) reach without a GOT.
/// </summary>
static class AddressSpaceSearch
{
    const ulong Reach = 1UL << 31;

    /// <summary>Reserves space within reach of every mapping of the named libraries (file names such as
    /// "libc.so.6"): the ones JIT'd code links against, not every library the host happens to map.</summary>
    public static nint ReserveNearLibraries(ulong size, IReadOnlyCollection<string> libraryFileNames)
    {
        var (maps, libLow, libHigh) = ReadMaps(libraryFileNames);
        if (libLow == 0) return Fallback(size);
        // Every candidate must keep [start, start+size) within reach of [libLow, libHigh).
        ulong lowest = libHigh > Reach ? libHigh - Reach + (64UL << 20) : 0x10000;
        ulong highest = libLow + Reach - (64UL << 20);
        // Walk gaps between mappings, preferring those closest to the libraries (just below them first).
        var candidates = new List<ulong>();
        for (int i = 0; i + 1 < maps.Count; i++)
        {
            ulong gapStart = maps[i].End, gapEnd = maps[i + 1].Start;
            if (gapEnd - gapStart < size) continue;
            ulong top = (gapEnd - size) & ~0xFFFFUL;
            if (top >= gapStart && top >= lowest && top + size <= highest) candidates.Add(top);
            ulong bottom = (gapStart + 0xFFFF) & ~0xFFFFUL;
            if (bottom + size <= gapEnd && bottom >= lowest && bottom + size <= highest) candidates.Add(bottom);
        }
        candidates.Sort((a, b) => Distance(a, size, libLow, libHigh).CompareTo(Distance(b, size, libLow, libHigh)));
        foreach (ulong c in candidates)
        {
            nint p = LibC.mmap((nint)c, (nuint)size, LibC.ProtNone,
                LibC.MapPrivate | LibC.MapAnonymous | LibC.MapNoReserve | LibC.MapFixedNoReplace, -1, 0);
            if (p != LibC.MapFailed && (ulong)p == c) return p;
            if (p != LibC.MapFailed) LibC.munmap(p, (nuint)size); // an old kernel ignoring NOREPLACE
        }
        return Fallback(size);
    }

    static nint Fallback(ulong size) =>
        LibC.mmap(0, (nuint)size, LibC.ProtNone, LibC.MapPrivate | LibC.MapAnonymous | LibC.MapNoReserve, -1, 0);

    static ulong Distance(ulong start, ulong size, ulong lo, ulong hi) =>
        start + size <= lo ? lo - start : start >= hi ? start + size - hi : 0;

    /// <summary>Mappings sorted by address, and the span of file-backed shared-library mappings.</summary>
    static (List<(ulong Start, ulong End)> Maps, ulong LibLow, ulong LibHigh) ReadMaps(IReadOnlyCollection<string> names)
    {
        var maps = new List<(ulong, ulong)>();
        ulong lo = ulong.MaxValue, hi = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int dash = line.IndexOf('-'), space = line.IndexOf(' ');
                if (dash < 0 || space < dash) continue;
                ulong s = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber);
                ulong e = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber);
                maps.Add((s, e));
                int slash = line.LastIndexOf('/');
                if (slash > 0 && names.Contains(line[(slash + 1)..].TrimEnd()))
                {
                    lo = Math.Min(lo, s);
                    hi = Math.Max(hi, e);
                }
            }
        }
        catch (IOException) { return (maps, 0, 0); }
        maps.Sort();
        maps.Insert(0, (0, 0x10000));
        maps.Add((0x7fff_ffff_f000, 0x7fff_ffff_f000));
        return (maps, lo == ulong.MaxValue ? 0 : lo, hi);
    }
}
