using System.Runtime.InteropServices;
using OrcSharp.Executor.InProcess;
using OrcSharp.Memory;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Memory;

/// <summary>The in-flight → finalized → deallocated life of allocations, in this process.</summary>
public class SlabMemoryManagerTests
{
    static AllocRequest Request(params (MemProt Prot, MemLifetime Life, ulong Size)[] segs) =>
        new(segs.Select(s => new SegmentRequest(new AllocGroup(s.Prot, s.Life), s.Size, s.Size, 16)).ToList(), Placement.NearLibraries);

    [Fact]
    public unsafe void InFlightMemoryIsWritableThenProtectedAndCounted()
    {
        var ex = new InProcessExecutorControl();
        var mm = ex.MemoryManager;
        var alloc = mm.Allocate(Request((MemProt.Read, MemLifetime.Standard, 100), (MemProt.Read | MemProt.Write, MemLifetime.Standard, 5000)));
        Assert.Equal(0UL, alloc.SegmentAddress(0).Value % mm.PageSize);
        Assert.True(alloc.SegmentAddress(1) >= alloc.SegmentAddress(0) + 100);
        alloc.WorkingMemory(0)[0] = 42;
        alloc.WorkingMemory(1)[4999] = 7;
        int before = mm.LiveAllocations;
        var handle = alloc.Finalize([]);
        Assert.Equal(before + 1, mm.LiveAllocations);
        Assert.Equal(42, *(byte*)alloc.SegmentAddress(0).Value);
        Assert.Equal(7, *(byte*)(alloc.SegmentAddress(1).Value + 4999));
        mm.Deallocate([handle]);
        Assert.Equal(before, mm.LiveAllocations);
    }

    [Fact]
    public void BulkDeallocationReleasesEveryAllocationAndReusesAddressSpace()
    {
        var ex = new InProcessExecutorControl();
        var mm = ex.MemoryManager;
        var handles = new List<FinalizedAlloc>();
        var firstAddrs = new List<ulong>();
        for (int i = 0; i < 5; i++)
        {
            var a = mm.Allocate(Request((MemProt.Read | MemProt.Exec, MemLifetime.Standard, 64), (MemProt.Read, MemLifetime.Finalize, 64)));
            firstAddrs.Add(a.SegmentAddress(0).Value);
            handles.Add(a.Finalize([]));
        }
        Assert.Equal(5, firstAddrs.Distinct().Count());
        Assert.Equal(5, mm.LiveAllocations);
        mm.Deallocate(handles.ToArray());
        Assert.Equal(0, mm.LiveAllocations);
        // Freed address space is handed out again.
        var again = mm.Allocate(Request((MemProt.Read, MemLifetime.Standard, 64)));
        Assert.Contains(again.SegmentAddress(0).Value, firstAddrs);
        again.Abandon();
    }

    [Fact]
    public void Low32PlacementIsBelow2GiB()
    {
        var mm = new InProcessExecutorControl().MemoryManager;
        var a = mm.Allocate(new AllocRequest([new SegmentRequest(new AllocGroup(MemProt.Read, MemLifetime.Standard), 10, 10, 16)], Placement.Low32));
        Assert.True(a.SegmentAddress(0).Value + 10 < 0x8000_0000UL);
        a.Abandon();
    }

    static readonly List<string> Calls = new();

    [UnmanagedCallersOnly]
    static unsafe OrcSharp.Executor.TargetProcess.CWrapperFunctionResult Record(byte* arg, nuint size)
    {
        lock (Calls) Calls.Add(System.Text.Encoding.UTF8.GetString(arg, (int)size));
        return default;
    }

    [Fact]
    public unsafe void FinalizeActionsRunInOrderAndDeallocActionsInReverse()
    {
        var mm = new InProcessExecutorControl().MemoryManager;
        var fn = new ExecutorAddr((ulong)(delegate* unmanaged<byte*, nuint, OrcSharp.Executor.TargetProcess.CWrapperFunctionResult>)&Record);
        WrapperCall Call(string s) => new(fn, System.Text.Encoding.UTF8.GetBytes(s));
        lock (Calls) Calls.Clear();
        var a = mm.Allocate(Request((MemProt.Read, MemLifetime.Standard, 8)));
        var h = a.Finalize([new(Call("f1"), Call("d1")), new(Call("f2"), Call("d2"))]);
        mm.Deallocate([h]);
        lock (Calls) Assert.Equal(["f1", "f2", "d2", "d1"], Calls);
    }
}
