using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using OrcSharp.Conformance;
using OrcSharp.Executor;
using OrcSharp.Executor.InProcess;
using OrcSharp.Executor.SimpleRemote;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.ObjectFile.Elf;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Debugging;

/// <summary>
/// The files perf reads, written by the process that runs the code: /tmp/perf-PID.map (one line per
/// function) and the jitdump file (code bytes and source lines per function), parsed here as perf does.
/// </summary>
public class PerfMapTests
{
    // Lines matter: the body of add is line 4.
    const string Source = """
        #include <stdio.h>
        #include <unistd.h>
        __attribute__((noinline)) int add(int a, int b) {
          return a + b;
        }
        int main(int argc, char **argv) {
          printf("%d %lx %lx %d\n", (int)getpid(), (unsigned long)add, (unsigned long)main, add(argc, 2));
          return 0;
        }
        """;

    static (int Pid, ulong Add, ulong Main) Printed(ProcessResult r)
    {
        Assert.True(r.ExitCode == 0, r.StderrText);
        var f = r.StdoutText.Trim().Split(' ');
        return (int.Parse(f[0]), ulong.Parse(f[1], NumberStyles.HexNumber), ulong.Parse(f[2], NumberStyles.HexNumber));
    }

    /// <summary>One line of a perf map.</summary>
    readonly record struct MapLine(ulong Start, ulong Size, string Name);

    /// <summary>A perf map's lines, in file order, each checked to be "START SIZE NAME" in hex.</summary>
    static List<MapLine> ReadPerfMap(string path) =>
        File.ReadAllLines(path).Select(l => Regex.Match(l, "^([0-9a-f]+) ([0-9a-f]+) (.+)$"))
            .Select(m =>
            {
                Assert.True(m.Success, m.Value);
                return new MapLine(Convert.ToUInt64(m.Groups[1].Value, 16), Convert.ToUInt64(m.Groups[2].Value, 16), m.Groups[3].Value);
            })
            .ToList();

    /// <summary>A JIT_CODE_LOAD record of a jitdump file.</summary>
    sealed record CodeLoad(ulong Time, ulong Address, string Name, byte[] Code);

    /// <summary>A jitdump file parsed record by record, as perf inject reads it: the header (checked), then
    /// the code loads in file order and the source lines by code address.</summary>
    sealed class JitDump
    {
        public List<CodeLoad> Loads { get; } = new();
        public Dictionary<ulong, List<(ulong Address, uint Line, string File)>> Lines { get; } = new();

        public JitDump(string file, int pid)
        {
            var dump = File.ReadAllBytes(file).AsSpan();
            Assert.Equal(0x4A695444u, BinaryPrimitives.ReadUInt32LittleEndian(dump)); // "JiTD"
            Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(dump[4..]));
            int headerSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(dump[8..]);
            Assert.Equal(62u, BinaryPrimitives.ReadUInt32LittleEndian(dump[12..])); // EM_X86_64
            Assert.Equal((uint)pid, BinaryPrimitives.ReadUInt32LittleEndian(dump[20..]));
            ulong lastTime = BinaryPrimitives.ReadUInt64LittleEndian(dump[24..]);
            for (int at = headerSize; at < dump.Length;)
            {
                uint id = BinaryPrimitives.ReadUInt32LittleEndian(dump[at..]);
                int size = (int)BinaryPrimitives.ReadUInt32LittleEndian(dump[(at + 4)..]);
                ulong time = BinaryPrimitives.ReadUInt64LittleEndian(dump[(at + 8)..]);
                Assert.True(time >= lastTime, "timestamps go forward");
                lastTime = time;
                var rec = dump.Slice(at + 16, size - 16);
                if (id == 0) // JIT_CODE_LOAD
                {
                    Assert.Equal((uint)pid, BinaryPrimitives.ReadUInt32LittleEndian(rec));
                    ulong vma = BinaryPrimitives.ReadUInt64LittleEndian(rec[8..]), code = BinaryPrimitives.ReadUInt64LittleEndian(rec[16..]);
                    int codeSize = (int)BinaryPrimitives.ReadUInt64LittleEndian(rec[24..]);
                    Assert.Equal(vma, code);
                    var name = rec[40..];
                    int nul = name.IndexOf((byte)0);
                    Assert.Equal(rec.Length, 40 + nul + 1 + codeSize);
                    Loads.Add(new CodeLoad(time, code, Encoding.UTF8.GetString(name[..nul]), name.Slice(nul + 1, codeSize).ToArray()));
                }
                else if (id == 2) // JIT_CODE_DEBUG_INFO
                {
                    ulong code = BinaryPrimitives.ReadUInt64LittleEndian(rec);
                    int count = (int)BinaryPrimitives.ReadUInt64LittleEndian(rec[8..]);
                    var list = Lines[code] = new();
                    var e = rec[16..];
                    for (int i = 0; i < count; i++)
                    {
                        int nul = e[16..].IndexOf((byte)0);
                        list.Add((BinaryPrimitives.ReadUInt64LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[8..]), Encoding.UTF8.GetString(e.Slice(16, nul))));
                        e = e[(16 + nul + 1)..];
                    }
                }
                else Assert.Fail($"unexpected record type {id}");
                at += size;
            }
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void PerfMapNamesEveryFunctionOfTheProcessRunningIt(bool outOfProcess, bool fromEnvironment)
    {
        string obj = TestSupport.CompileC(TestSupport.NewTempDir(), "perf", Source, "-O2");
        var args = new List<string> { "run" };
        if (outOfProcess) args.Add("--oop");
        if (!fromEnvironment) args.Add("--perf-map");
        args.Add(obj);
        // The CLI does not read ORCSHARP_PERF_MAP itself: the library's platform does, for every host.
        var env = new Dictionary<string, string> { ["ORCSHARP_PERF_MAP"] = fromEnvironment ? "1" : "0" };
        var (pid, add, main) = Printed(ProcessRunner.Run(TestSupport.Orcsharp, args, timeoutMs: 120000, env: env));
        string map = $"/tmp/perf-{pid}.map";
        try
        {
            var entries = ReadPerfMap(map);
            var a = Assert.Single(entries, e => e.Name == "add");
            Assert.Equal(add, a.Start);
            Assert.InRange(a.Size, 3UL, 64UL);
            Assert.Equal(main, Assert.Single(entries, e => e.Name == "main").Start);
        }
        finally { File.Delete(map); }
    }

    [Fact]
    public void NoPerfMapUnlessAsked()
    {
        string obj = TestSupport.CompileC(TestSupport.NewTempDir(), "perf", Source, "-O2");
        var (pid, _, _) = Printed(TestSupport.RunOrcsharp("run", obj));
        Assert.False(File.Exists($"/tmp/perf-{pid}.map"));
    }

    /// <summary>The jitdump file, record by record: the header, then per function a DEBUG_INFO record (with
    /// -g) and a CODE_LOAD record whose bytes are the function's code as it runs.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void JitDumpHasEveryFunctionWithItsCodeAndLines(bool outOfProcess)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "perf", Source, "-O2 -g");
        var args = new List<string> { "run", "--jitdump" };
        if (outOfProcess) args.Add("--oop");
        args.Add(obj);
        var (pid, add, main) = Printed(ProcessRunner.Run(TestSupport.Orcsharp, args, timeoutMs: 120000, env: new() { ["JITDUMPDIR"] = dir }));
        string file = Assert.Single(Directory.GetFiles(Path.Combine(dir, ".debug", "jit"), $"jit-{pid}.dump", SearchOption.AllDirectories));
        var dump = new JitDump(file, pid);
        var loads = dump.Loads.ToDictionary(l => l.Name);
        Assert.Equal(main, loads["main"].Address);
        var addLoad = loads["add"];
        Assert.Equal(add, addLoad.Address);
        // add has no relocations: its bytes are the object's, unchanged by the link.
        var elf = ElfObjectFile.Parse(obj, File.ReadAllBytes(obj));
        var sym = elf.Symbols.ToArray().Single(s => s.Name != 0 && elf.SymbolName(s) == "add");
        var text = elf.SectionData(elf.SymbolSectionIndex(Array.IndexOf(elf.Symbols.ToArray(), sym), sym));
        Assert.Equal(text.Slice((int)sym.Value, (int)sym.Size).ToArray(), addLoad.Code);
        var addLines = dump.Lines[add];
        Assert.All(addLines, l => Assert.EndsWith("perf.c", l.File));
        Assert.Contains(addLines, l => l.Line == 4 && l.Address >= add && l.Address < add + (ulong)addLoad.Code.Length);
        Assert.DoesNotContain(dump.Loads, l => l.Name.StartsWith(PerfMapWriter.UnloadedPrefix)); // nothing was removed
    }

    /// <summary>A library host that removes units: in the perf map and the jitdump of the process running
    /// the code, each function of a removed unit is written once more as "[unloaded] NAME" over the same
    /// range (in the jitdump with the time of removal, after its load), and functions still linked are not.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RemovedUnitsAreMarkedUnloaded(bool outOfProcess)
    {
        string dir = TestSupport.NewTempDir();
        string host = TestSupport.CompileC(dir, "host", "int unload_host(int x) { return x * 3; }\n", "-O2 -fPIC -g");
        string plugin = TestSupport.CompileC(dir, "plugin", "int unload_host(int);\nint unload_plugin(int x) { return unload_host(x) + 1; }\n", "-O2 -fPIC -g");
        // The jitdump goes under JITDUMPDIR of the process running the code: set for a child executor; in
        // this process (whose environment other tests share) the writer says where it put the file.
        IExecutorControl executor = outOfProcess
            ? SimpleRemoteEPC.Spawn(TestSupport.OrcsharpBinary, ["executor", "--stdio"], new Dictionary<string, string> { ["JITDUMPDIR"] = dir })
            : new InProcessExecutorControl();
        int pid = outOfProcess ? ((SimpleRemoteEPC)executor).ExecutorProcessId!.Value : Environment.ProcessId;
        string map = PerfMapWriter.PathFor(pid);
        string? dumpFile = null;
        try
        {
            ulong hostAt, pluginAt;
            using (var session = new ExecutionSession(executor))
            {
                session.Platform.Debugging.PerfMap = true;
                session.Platform.Debugging.JitDump = true;
                var jd = TestSupport.LinkNew(session, "app", cxx: false, host);
                hostAt = jd.Lookup("unload_host")!.Value.Value;
                jd.AddObject(plugin, File.ReadAllBytes(plugin));
                var unit = jd.Link();
                pluginAt = jd.Lookup("unload_plugin")!.Value.Value;

                session.RemoveUnit(unit);
                dumpFile = outOfProcess
                    ? Assert.Single(Directory.GetFiles(Path.Combine(dir, ".debug", "jit"), $"jit-{pid}.dump", SearchOption.AllDirectories))
                    : JitDumpWriter.FilePath!;
                AssertUnloaded(ReadPerfMap(map), new JitDump(dumpFile, pid), "unload_plugin", pluginAt, unloaded: true);
                AssertUnloaded(ReadPerfMap(map), new JitDump(dumpFile, pid), "unload_host", hostAt, unloaded: false);

                session.RemoveJITDylib(jd);
                AssertUnloaded(ReadPerfMap(map), new JitDump(dumpFile, pid), "unload_host", hostAt, unloaded: true);
            }
        }
        finally
        {
            File.Delete(map);
            if (dumpFile is not null) Directory.Delete(Path.GetDirectoryName(dumpFile)!, recursive: true);
        }
    }

    static void AssertUnloaded(List<MapLine> map, JitDump dump, string name, ulong address, bool unloaded)
    {
        string marked = PerfMapWriter.UnloadedPrefix + name;
        int loadedAt = map.FindIndex(l => l.Name == name && l.Start == address);
        Assert.True(loadedAt >= 0, $"{name} is not in the perf map at 0x{address:x}");
        var markedLines = map.Select((l, i) => (l, i)).Where(x => x.l.Name == marked && x.l.Start == address).ToList();
        var load = Assert.Single(dump.Loads, l => l.Name == name && l.Address == address);
        var markedLoads = dump.Loads.Where(l => l.Name == marked && l.Address == address).ToList();
        if (!unloaded)
        {
            Assert.Empty(markedLines);
            Assert.Empty(markedLoads);
            return;
        }
        var (line, index) = Assert.Single(markedLines);
        Assert.True(index > loadedAt, "the unloaded line comes after the loaded one");
        Assert.Equal(map[loadedAt].Size, line.Size);
        var markedLoad = Assert.Single(markedLoads);
        Assert.True(markedLoad.Time > load.Time, "unloaded after it was loaded");
        Assert.Equal(load.Code.Length, markedLoad.Code.Length);
    }
}
