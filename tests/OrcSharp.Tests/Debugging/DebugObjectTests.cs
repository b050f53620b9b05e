using System.Text.RegularExpressions;
using OrcSharp.Executor.InProcess;
using OrcSharp.Executor.TargetProcess;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Debugging;

/// <summary>
/// The debug object of a link, as a debugger gets it from the GDB JIT interface in this process: what it
/// names and where, its DWARF (checked by llvm-dwarfdump's verifier and against addr2line on the input
/// object), and that removing the link takes it, and its crash-report table, away.
/// </summary>
public class DebugObjectTests
{
    const string Plugin = """
        int counter = 3;
        __attribute__((noinline)) static int helper(int x) { return x * counter; }
        __attribute__((weak)) int tunable(void) { return 2; }
        int plugin_value(int x) { return helper(x) + tunable(); }
        """;
    const string Other = """
        #include <stdio.h>
        __attribute__((noinline)) static int helper(int x) { return x + 1; }
        int other_value(int x) { printf("%d\n", x); return helper(x); }
        """;

    static ExecutionSession NewSession() => new(new InProcessExecutorControl());

    [Fact]
    public unsafe void NamesEveryFunctionAndObjectAtItsAddress()
    {
        string dir = TestSupport.NewTempDir();
        string a = TestSupport.CompileC(dir, "plugin", Plugin, "-O2 -fPIC");
        string b = TestSupport.CompileC(dir, "other", Other, "-O2 -fPIC");
        using var session = NewSession();
        var jd = TestSupport.LinkNew(session, "named", cxx: false, a, b);
        ulong value = jd.Lookup("plugin_value")!.Value.Value, counter = jd.Lookup("counter")!.Value.Value, other = jd.Lookup("other_value")!.Value.Value;

        var image = DebugImage.Registered(value, "plugin_value") ?? throw new Xunit.Sdk.XunitException("no debug object registered for the link");
        Assert.Equal(2, image.Type); // ET_EXEC: addresses are final
        var byName = image.Symbols.ToLookup(s => s.Name);
        Assert.Equal(value, Assert.Single(byName["plugin_value"]).Value);
        Assert.Equal(other, Assert.Single(byName["other_value"]).Value);
        var data = Assert.Single(byName["counter"]);
        Assert.Equal((counter, (byte)1, (ulong)4), (data.Value, data.Type, data.Size)); // STT_OBJECT
        Assert.Equal(2, byName["helper"].Count(s => s.Binding == 0)); // both statics, each local
        // Every symbol lies in the loaded section its index names.
        foreach (var s in image.Symbols.Where(s => s.Section is > 0 and < 0xff00))
        {
            var sec = image.Sections[s.Section];
            Assert.InRange(s.Value, sec.Address, sec.Address + sec.Size - 1);
        }
        // .eh_frame is there, byte for byte as the unwinder has it in memory.
        var eh = image.Section(".eh_frame")!.Value;
        Assert.Equal(new ReadOnlySpan<byte>((void*)eh.Address, (int)eh.Size).ToArray(), image.Content(eh).ToArray());

        var table = image.Table;
        var f = table.FunctionAt(value + 1)!.Value;
        Assert.Equal(("plugin_value", "plugin.o"), (f.Name, f.Object));
        Assert.Equal("other.o", table.FunctionAt(other)!.Value.Object);
        Assert.Null(table.LineAt(value)); // no -g: functions, no lines
    }

    [Theory]
    [InlineData("cc", "-O2 -g")]
    [InlineData("cc", "-O0 -g -gdwarf-4")]
    [InlineData("clang-14", "-O2 -g -fPIC")]
    [InlineData("c++", "-O1 -g")]
    public void LinkedDwarfPassesTheVerifierAndNamesFinalAddresses(string compiler, string flags)
    {
        string dir = TestSupport.NewTempDir();
        bool cxx = compiler == "c++";
        // C++: the same inline function and template in two objects, so one COMDAT copy is discarded and
        // the DWARF that described it must not point at the kept one's code.
        string header = cxx ? "template <class T> T twice(T x) { return x + x; }\ninline int shared(int x) { return twice(x) * 3; }\n" : "";
        string[] sources = cxx
            ? [header + "extern \"C\" int plugin_value(int x) { return shared(x) + 1; }\n", header + "extern \"C\" int other_value(int x) { return shared(x) - 1; }\n"]
            : [Plugin, Other];
        var objects = sources.Select((src, i) => Compile(compiler, dir, i == 0 ? "plugin" : "other", src, flags, cxx)).ToArray();
        using var session = NewSession();
        var jd = TestSupport.LinkNew(session, "dwarf", cxx, objects);
        ulong value = jd.Lookup("plugin_value")!.Value.Value;
        var image = DebugImage.Registered(value, "plugin_value")!;
        Assert.NotNull(image.Section(".debug_info"));

        string file = Path.Combine(dir, "image.elf");
        File.WriteAllBytes(file, image.Bytes);
        var verify = TestSupport.Run("llvm-dwarfdump-19", "--verify", file);
        Assert.True(verify.ExitCode == 0, verify.StdoutText + verify.StderrText);
        var dump = TestSupport.Run("llvm-dwarfdump-19", "--name=plugin_value", file).StdoutText;
        Assert.Contains($"DW_AT_low_pc\t(0x{value:x16})", dump);
    }

    static string Compile(string compiler, string dir, string name, string source, string flags, bool cxx) =>
        compiler == "c++" || cxx ? TestSupport.CompileCxx(dir, name, source, flags) : compiler == "cc"
            ? TestSupport.CompileC(dir, name, source, flags)
            : TestSupport.CompileWith(compiler, dir, name, source, flags);

    /// <summary>The line table the crash report uses, row by row, against addr2line on the input object
    /// (which applies the object's own relocations): the same file and line for every address.</summary>
    [Theory]
    [InlineData("-O2 -g")]
    [InlineData("-O0 -g")]
    public void LineTableAgreesWithAddr2LineOnTheObject(string flags)
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "lines", """
            #include <string.h>
            static inline int square(int x) { return x * x; }
            int sum_squares(const int *v, int n)
            {
              int s = 0;
              for (int i = 0; i < n; i++)
                s += square(v[i]);
              return s;
            }
            int longest(const char **words, int n)
            {
              int best = 0;
              for (int i = 0; i < n; i++) {
                int l = (int)strlen(words[i]);
                if (l > best) best = l;
              }
              return best;
            }
            """, flags);
        using var session = NewSession();
        var jd = TestSupport.LinkNew(session, "lines", cxx: false, obj);
        ulong sum = jd.Lookup("sum_squares")!.Value.Value;
        var image = DebugImage.Registered(sum, "sum_squares")!;
        var table = image.Table;
        // .text of this one-section object starts where its first function is (offset 0 in the object).
        ulong textStart = sum - SymbolValue(dir, obj, "sum_squares");
        var addresses = new List<ulong>();
        for (int i = 0; i < table.LineCount; i++)
            if (table.Line(i) is (var at, { } _)) addresses.Add(at);
        Assert.True(addresses.Count >= 6, $"only {addresses.Count} line rows");
        var oracle = TestSupport.Run("addr2line", ["-e", obj, "-j", ".text", .. addresses.Select(a => $"0x{a - textStart:x}")]).StdoutText.Split('\n');
        for (int i = 0; i < addresses.Count; i++)
        {
            var m = Regex.Match(oracle[i], @"([^/]+):(\d+)");
            var ours = table.LineAt(addresses[i])!.Value;
            Assert.True(m.Success && Path.GetFileName(ours.File) == m.Groups[1].Value && ours.Line.ToString() == m.Groups[2].Value,
                $"0x{addresses[i] - textStart:x}: ours {ours.File}:{ours.Line}, addr2line {oracle[i]}");
        }
    }

    static ulong SymbolValue(string dir, string obj, string name)
    {
        var line = TestSupport.Run("nm", obj).StdoutText.Split('\n').First(l => l.EndsWith(" " + name));
        return Convert.ToUInt64(line.Split(' ')[0], 16);
    }

    /// <summary>Debug information never breaks a link: an object whose line table is garbage links and
    /// runs, and its debug object still names its functions (without lines).</summary>
    [Fact]
    public unsafe void CorruptDebugInformationLeavesTheLinkIntact()
    {
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileC(dir, "garbled", "int garbled_value(int x) { return x * 7; }\n", "-O2 -g -fPIC");
        var bytes = File.ReadAllBytes(obj);
        var elf = OrcSharp.ObjectFile.Elf.ElfObjectFile.Parse(obj, bytes);
        var line = elf.Sections[Array.IndexOf(elf.SectionNames, ".debug_line")];
        bytes.AsSpan((int)line.Offset + 4, (int)line.Size - 4).Fill(0xff);
        File.WriteAllBytes(obj, bytes);
        using var session = NewSession();
        var jd = TestSupport.LinkNew(session, "garbled", cxx: false, obj);
        ulong at = jd.Lookup("garbled_value")!.Value.Value;
        Assert.Equal(42, ((delegate* unmanaged<int, int>)at)(6));
        var table = DebugImage.Registered(at, "garbled_value")!.Table;
        Assert.Equal("garbled_value", table.FunctionAt(at)!.Value.Name);
        Assert.Null(table.LineAt(at));
    }

    [Fact]
    public void RemovingALinkUnregistersItsDebugObjectAndCrashTable()
    {
        string dir = TestSupport.NewTempDir();
        string a = TestSupport.CompileC(dir, "base", "int removal_base(int x) { return x * 2; }\n", "-O2 -fPIC -g");
        string b = TestSupport.CompileC(dir, "plugin", "int removal_base(int);\nint removal_plugin(int x) { return removal_base(x) + 1; }\n", "-O2 -fPIC -g");
        using var session = NewSession();
        var jd = TestSupport.LinkNew(session, "app", cxx: false, a);
        ulong scale = jd.Lookup("removal_base")!.Value.Value;
        for (int round = 0; round < 3; round++)
        {
            jd.AddObject(b, File.ReadAllBytes(b));
            var unit = jd.Link();
            ulong value = jd.Lookup("removal_plugin")!.Value.Value;
            Assert.True(IsRegistered("removal_plugin", value));
            Assert.True(CrashReport.HasTableFor(value));
            session.RemoveUnit(unit);
            Assert.False(IsRegistered("removal_plugin", value));
            Assert.True(IsRegistered("removal_base", scale));
        }
        session.RemoveJITDylib(jd);
        Assert.False(IsRegistered("removal_base", scale));
    }

    /// <summary>Whether a registered debug object names <paramref name="name"/> at <paramref name="address"/>
    /// (other tests link in this process too, and may reuse freed addresses).</summary>
    static bool IsRegistered(string name, ulong address) =>
        DebugImage.AllRegistered().Any(i => i.Symbols.Any(s => s.Name == name && s.Value == address));
}
