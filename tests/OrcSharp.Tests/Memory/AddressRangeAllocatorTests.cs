using OrcSharp.Memory;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Memory;

/// <summary>Address-range bookkeeping: no block may start where libgcc's unwinder would ignore its FDE.</summary>
public class AddressRangeAllocatorTests
{
    [Fact]
    public void NeverHandsOutAnAddressWithZeroLow32Bits()
    {
        // A slab that starts exactly at a 4 GiB boundary (what made one in-process C++ run in ~150 die
        // with "terminate called": the first function's FDE was taken for a discarded one).
        var ranges = new AddressRangeAllocator();
        ranges.AddSlab(new ExecutorAddr(0x7f4f_0000_0000), 1UL << 20, forRunnableCode: true);
        Assert.True(ranges.TryAllocate(4096, 4096, out var first));
        Assert.NotEqual(0UL, first.Value & 0xffff_ffff);
        Assert.Equal((1UL << 20) - (1UL << 16), ranges.FreeBytes + 4096);
    }

    [Fact]
    public void SlabAcrossABoundaryIsSplitAroundIt()
    {
        var ranges = new AddressRangeAllocator();
        ulong start = 0x7f4e_ffff_0000; // 64 KiB below the boundary
        ranges.AddSlab(new ExecutorAddr(start), 1UL << 20, forRunnableCode: true);
        var got = new List<ulong>();
        while (ranges.TryAllocate(4096, 4096, out var a)) got.Add(a.Value);
        Assert.DoesNotContain(got, a => (a & 0xffff_ffff) == 0);
        Assert.Equal(((1UL << 20) - (1UL << 16)) / 4096, (ulong)got.Count);
        // Freeing everything does not bring the hole back.
        foreach (var a in got) ranges.Free(new ExecutorAddr(a), 4096);
        Assert.True(ranges.TryAllocate(1UL << 16, 4096, out var below));
        Assert.Equal(start, below.Value);
        Assert.False(ranges.TryAllocate((1UL << 20) - (1UL << 16), 4096, out _)); // no run spans the boundary
    }
}
