using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using OrcSharp.Conformance;
using OrcSharp.ObjectFile.Elf;
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
        var env = new Dictionary<string, string> { ["ORCSHARP_PERF_MAP"] = fromEnvironment ? "1" : "0" };
        var (pid, add, main) = Printed(ProcessRunner.Run(TestSupport.Orcsharp, args, timeoutMs: 120000, env: env));
        string map = $"/tmp/perf-{pid}.map";
        try
        {
            var entries = File.ReadAllLines(map).Select(l => Regex.Match(l, "^([0-9a-f]+) ([0-9a-f]+) (.+)$"))
                .Select(m => { Assert.True(m.Success); return (Start: Convert.ToUInt64(m.Groups[1].Value, 16), Size: Convert.ToUInt64(m.Groups[2].Value, 16), Name: m.Groups[3].Value); })
                .ToList();
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
        var dump = File.ReadAllBytes(file).AsSpan();

        Assert.Equal(0x4A695444u, BinaryPrimitives.ReadUInt32LittleEndian(dump)); // "JiTD"
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(dump[4..]));
        int headerSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(dump[8..]);
        Assert.Equal(62u, BinaryPrimitives.ReadUInt32LittleEndian(dump[12..])); // EM_X86_64
        Assert.Equal((uint)pid, BinaryPrimitives.ReadUInt32LittleEndian(dump[20..]));

        var loads = new Dictionary<string, (ulong Address, byte[] Code)>();
        var lines = new Dictionary<ulong, List<(ulong Address, uint Line, string File)>>();
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
                loads[Encoding.UTF8.GetString(name[..nul])] = (code, name.Slice(nul + 1, codeSize).ToArray());
            }
            else if (id == 2) // JIT_CODE_DEBUG_INFO
            {
                ulong code = BinaryPrimitives.ReadUInt64LittleEndian(rec);
                int count = (int)BinaryPrimitives.ReadUInt64LittleEndian(rec[8..]);
                var list = lines[code] = new();
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
        Assert.Equal(main, loads["main"].Address);
        var (addAt, addCode) = loads["add"];
        Assert.Equal(add, addAt);
        // add has no relocations: its bytes are the object's, unchanged by the link.
        var elf = ElfObjectFile.Parse(obj, File.ReadAllBytes(obj));
        var sym = elf.Symbols.ToArray().Single(s => s.Name != 0 && elf.SymbolName(s) == "add");
        var text = elf.SectionData(elf.SymbolSectionIndex(Array.IndexOf(elf.Symbols.ToArray(), sym), sym));
        Assert.Equal(text.Slice((int)sym.Value, (int)sym.Size).ToArray(), addCode);
        var addLines = lines[add];
        Assert.All(addLines, l => Assert.EndsWith("perf.c", l.File));
        Assert.Contains(addLines, l => l.Line == 4 && l.Address >= add && l.Address < add + (ulong)addCode.Length);
    }
}
