using System.Globalization;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Executor;

/// <summary>
/// Segment bytes through shared memory (a memfd the child executor maps) against the same bytes copied
/// through the pipe: the same link, placed at the same addresses in the same executor, leaves the same
/// memory behind, and the shared path does not send the segment bytes.
/// </summary>
public class SharedSegmentMemoryTests
{
    const string Source = """
        #include <stdio.h>
        #include <string.h>
        static const char greeting[] = "shared segments";
        const char *table[] = { greeting, greeting + 7, 0 };
        int counter = 42;
        static char scratch[100000];
        int (*writer)(const char *) = puts;
        __attribute__((noinline)) int twice(int x) { return 2 * x + counter; }
        int main(void) { memcpy(scratch, greeting, sizeof greeting); writer(table[1]); return twice((int)strlen(scratch)) == 0; }
        """;

    [Fact]
    public void SharedMemoryAndPipeLeaveByteIdenticalMemory()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "segments", Source, "-O2 -fPIC");
        using var epc = SimpleRemoteEPC.Spawn(TestSupport.Orcsharp, ["executor", "--stdio"]);
        using var session = new ExecutionSession(epc);
        int pid = epc.ExecutorProcessId!.Value;

        epc.UseSharedMemory = false;
        long sentBefore = epc.Stats.BytesSent;
        var piped = TestSupport.LinkNew(session, "piped", cxx: false, obj);
        ulong pipedBase = piped.Units[0].Allocation.Handle;
        long contentBytes = (long)piped.Units[0].Stats.Bytes;
        long pipedSent = epc.Stats.BytesSent - sentBefore;
        var pipedMemory = ReadAllocation(pid, pipedBase);
        session.RemoveJITDylib(piped);

        epc.UseSharedMemory = true;
        sentBefore = epc.Stats.BytesSent;
        var shared = TestSupport.LinkNew(session, "shared", cxx: false, obj);
        ulong sharedBase = shared.Units[0].Allocation.Handle;
        long sharedSent = epc.Stats.BytesSent - sentBefore;
        var sharedMemory = ReadAllocation(pid, sharedBase);

        Assert.Equal(pipedBase, sharedBase); // the freed range is reused: same addresses, so same fixups
        Assert.True(contentBytes > 0);
        Assert.True(pipedSent >= contentBytes, $"the pipe path sent {pipedSent} bytes for {contentBytes} bytes of content");
        Assert.True(sharedSent < pipedSent - contentBytes / 2, $"the shared path sent {sharedSent} bytes, the pipe path {pipedSent}");
        Assert.Equal(pipedMemory.Select(r => (r.Start, r.Perms)), sharedMemory.Select(r => (r.Start, r.Perms)));
        for (int i = 0; i < pipedMemory.Count; i++) Assert.True(pipedMemory[i].Bytes.AsSpan().SequenceEqual(sharedMemory[i].Bytes), $"memory at {pipedMemory[i].Start:x} differs");
        Assert.NotEmpty(pipedMemory);
    }

    /// <summary>The executor's accessible pages from <paramref name="start"/> up to the first inaccessible
    /// or unmapped page (an allocation's segments are consecutive; the slab's unused rest is inaccessible):
    /// start, protection (r/w/x, not shared or private) and bytes.</summary>
    static List<(ulong Start, string Perms, byte[] Bytes)> ReadAllocation(int pid, ulong start)
    {
        var result = new List<(ulong, string, byte[])>();
        using var mem = new FileStream($"/proc/{pid}/mem", FileMode.Open, FileAccess.Read);
        foreach (var line in File.ReadAllLines($"/proc/{pid}/maps"))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var range = parts[0].Split('-');
            ulong from = ulong.Parse(range[0], NumberStyles.HexNumber), to = ulong.Parse(range[1], NumberStyles.HexNumber);
            string perms = parts[1][..3];
            if (to <= start) continue;
            from = Math.Max(from, start);
            ulong expected = result.Count == 0 ? start : result[^1].Item1 + (ulong)result[^1].Item3.Length;
            if (from != expected || perms == "---") break;
            var bytes = new byte[to - from];
            mem.Seek((long)from, SeekOrigin.Begin);
            mem.ReadExactly(bytes);
            result.Add((from, perms, bytes));
        }
        return Coalesce(result);
    }

    /// <summary>Adjacent ranges of equal protection as one: an anonymous mapping and a memfd mapping split
    /// differently.</summary>
    static List<(ulong Start, string Perms, byte[] Bytes)> Coalesce(List<(ulong Start, string Perms, byte[] Bytes)> ranges)
    {
        var merged = new List<(ulong Start, string Perms, byte[] Bytes)>();
        foreach (var r in ranges)
        {
            if (merged.Count > 0 && merged[^1] is var last && last.Perms == r.Perms && last.Start + (ulong)last.Bytes.Length == r.Start)
                merged[^1] = (last.Start, last.Perms, [.. last.Bytes, .. r.Bytes]);
            else merged.Add(r);
        }
        return merged;
    }
}
