using System.Buffers.Binary;

namespace OrcSharp.ObjectFile.Elf;

/// <summary>
/// The GNU symbol hash table (DT_GNU_HASH), the one glibc's loader looks names up with: a Bloom filter
/// that rejects most absent names with one word, buckets of hash chains, and a chain word per hashed
/// symbol (its hash with the low bit marking the end of its bucket). Hashed symbols must follow the
/// unhashed ones in the symbol table, sorted by bucket: <see cref="Order"/> gives that order.
/// </summary>
public sealed class ElfGnuHash
{
    /// <summary>Bloom filter words are 64 bits wide in ELF64; the second bit comes from hash >> Shift.</summary>
    const int Shift = 26;
    readonly uint _bucketCount, _maskWords;

    ElfGnuHash(int symbolCount)
    {
        // About four symbols per bucket and two filter bits per symbol in 64-bit words, as ld and lld size them.
        _bucketCount = (uint)Math.Max(1, symbolCount / 4);
        _maskWords = (uint)Math.Max(1, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, symbolCount / 32)));
    }

    /// <summary>The hash of a name (Daniel J. Bernstein's h * 33 + c, from 5381).</summary>
    public static uint Hash(ReadOnlySpan<byte> name)
    {
        uint h = 5381;
        foreach (byte c in name) h = h * 33 + c;
        return h;
    }

    /// <summary>The order in which symbols with these hashes must appear in the symbol table.</summary>
    public static int[] Order(IReadOnlyList<uint> hashes)
    {
        var table = new ElfGnuHash(hashes.Count);
        var order = new int[hashes.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        // Stable, so symbols of one bucket keep their relative order.
        return order.OrderBy(i => hashes[i] % table._bucketCount).ToArray();
    }

    /// <summary>Size in bytes of the table for <paramref name="symbolCount"/> hashed symbols.</summary>
    public static int Size(int symbolCount)
    {
        var t = new ElfGnuHash(symbolCount);
        return 16 + 8 * (int)t._maskWords + 4 * (int)t._bucketCount + 4 * symbolCount;
    }

    /// <summary>Writes the table. <paramref name="sortedHashes"/> are the hashed symbols' hashes in symbol
    /// table order (already in <see cref="Order"/>); the first of them has index <paramref name="firstIndex"/>.</summary>
    public static void Write(Span<byte> dst, IReadOnlyList<uint> sortedHashes, uint firstIndex)
    {
        var t = new ElfGnuHash(sortedHashes.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(dst, t._bucketCount);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], firstIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[8..], t._maskWords);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[12..], Shift);
        var bloom = dst.Slice(16, 8 * (int)t._maskWords);
        var buckets = dst.Slice(16 + bloom.Length, 4 * (int)t._bucketCount);
        var chains = dst.Slice(16 + bloom.Length + buckets.Length, 4 * sortedHashes.Count);
        bloom.Clear();
        buckets.Clear();
        for (int i = 0; i < sortedHashes.Count; i++)
        {
            uint h = sortedHashes[i];
            var word = bloom.Slice(8 * (int)(h / 64 % t._maskWords), 8);
            ulong bits = BinaryPrimitives.ReadUInt64LittleEndian(word) | (1UL << (int)(h % 64)) | (1UL << (int)((h >> Shift) % 64));
            BinaryPrimitives.WriteUInt64LittleEndian(word, bits);
            uint bucket = h % t._bucketCount;
            var bucketSlot = buckets[(4 * (int)bucket)..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(bucketSlot) == 0)
                BinaryPrimitives.WriteUInt32LittleEndian(bucketSlot, firstIndex + (uint)i);
            bool last = i + 1 == sortedHashes.Count || sortedHashes[i + 1] % t._bucketCount != bucket;
            BinaryPrimitives.WriteUInt32LittleEndian(chains[(4 * i)..], last ? h | 1 : h & ~1u);
        }
    }
}
