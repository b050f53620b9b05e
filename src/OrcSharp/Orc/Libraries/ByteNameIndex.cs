using System.Text;

namespace OrcSharp.Orc.Libraries;

/// <summary>
/// Names to numbers without a string per name: an open-addressing hash table whose keys are byte ranges of
/// a buffer the caller keeps (an archive's symbol index) or of the table's own copy (names it was given as
/// strings). The first value added for a name wins, as in an archive index.
/// </summary>
sealed class ByteNameIndex
{
    readonly record struct Entry(int Start, int Length, int Value, bool Own, uint Hash);

    Entry[] _entries = new Entry[8];
    int[] _slots = new int[16]; // entry index + 1; 0 = empty
    int _count;
    byte[] _own = [];
    int _ownLength;

    /// <summary>Room for <paramref name="names"/> more names without growing.</summary>
    public void Reserve(int names)
    {
        if (_count + names > _entries.Length) Array.Resize(ref _entries, _count + names);
        if ((_count + names) * 2 > _slots.Length) Rehash(checked((int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)(_count + names) * 2)));
    }

    /// <summary>Adds the name at <paramref name="start"/> in <paramref name="buffer"/>, which the caller keeps
    /// unchanged and passes again to <see cref="TryGet"/>.</summary>
    public void TryAdd(ReadOnlySpan<byte> buffer, int start, int length, int value) =>
        Add(buffer, new Entry(start, length, value, false, Hash(buffer.Slice(start, length))));

    /// <summary>Adds a name given as a string (its bytes are copied).</summary>
    public void TryAdd(string name, int value)
    {
        int length = Encoding.UTF8.GetByteCount(name);
        if (_own.Length - _ownLength < length) Array.Resize(ref _own, Math.Max(_own.Length * 2, _ownLength + length + 256));
        Encoding.UTF8.GetBytes(name, _own.AsSpan(_ownLength));
        var entry = new Entry(_ownLength, length, value, true, Hash(_own.AsSpan(_ownLength, length)));
        if (Add(default, entry)) _ownLength += length;
    }

    public bool TryGet(ReadOnlySpan<byte> buffer, string name, out int value)
    {
        int length = Encoding.UTF8.GetByteCount(name);
        Span<byte> key = length <= 512 ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(name, key);
        int slot = Find(buffer, key, Hash(key));
        value = slot >= 0 ? _entries[_slots[slot] - 1].Value : 0;
        return slot >= 0;
    }

    bool Add(ReadOnlySpan<byte> buffer, Entry entry)
    {
        var key = entry.Own ? _own.AsSpan(entry.Start, entry.Length) : buffer.Slice(entry.Start, entry.Length);
        if (Find(buffer, key, entry.Hash) >= 0) return false;
        if (_count == _entries.Length) Array.Resize(ref _entries, _count * 2);
        if ((_count + 1) * 2 > _slots.Length) Rehash(_slots.Length * 2);
        _entries[_count++] = entry;
        _slots[EmptySlot(entry.Hash)] = _count;
        return true;
    }

    /// <summary>The slot holding <paramref name="key"/>, or -1.</summary>
    int Find(ReadOnlySpan<byte> buffer, ReadOnlySpan<byte> key, uint hash)
    {
        int mask = _slots.Length - 1;
        for (int i = (int)hash & mask; ; i = (i + 1) & mask)
        {
            int e = _slots[i] - 1;
            if (e < 0) return -1;
            ref readonly var entry = ref _entries[e];
            if (entry.Hash == hash && entry.Length == key.Length &&
                (entry.Own ? _own.AsSpan(entry.Start, entry.Length) : buffer.Slice(entry.Start, entry.Length)).SequenceEqual(key))
                return i;
        }
    }

    int EmptySlot(uint hash)
    {
        int mask = _slots.Length - 1;
        int i = (int)hash & mask;
        while (_slots[i] != 0) i = (i + 1) & mask;
        return i;
    }

    void Rehash(int size)
    {
        _slots = new int[size];
        for (int e = 0; e < _count; e++) _slots[EmptySlot(_entries[e].Hash)] = e + 1;
    }

    /// <summary>FNV-1a, then mixed so that the low bits (the slot) depend on every byte.</summary>
    static uint Hash(ReadOnlySpan<byte> key)
    {
        uint h = 2166136261;
        foreach (byte b in key) h = (h ^ b) * 16777619;
        return h ^ (h >> 15);
    }
}
