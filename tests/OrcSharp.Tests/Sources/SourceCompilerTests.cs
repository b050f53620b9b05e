using Xunit;
using OrcSharp.Sources;
using OrcSharp.Shared;

namespace OrcSharp.Tests.Sources;

/// <summary>The source compiler's cache: a hit runs no compiler, a changed source or header compiles again,
/// and compiling many sources at once gives the same objects as one at a time.</summary>
public class SourceCompilerTests
{
    /// <summary>A compiler wrapper that records each run in a log, then runs cc.</summary>
    static (CompilerSettings Settings, string Log) CountingCompiler(string dir, int parallelism = 4)
    {
        string log = Path.Combine(dir, "compiles.log"), wrapper = Path.Combine(dir, "counting-cc");
        File.WriteAllText(wrapper, $"#!/bin/sh\necho run >> '{log}'\nexec cc \"$@\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var settings = new CompilerSettings
        {
            CCompiler = wrapper, CxxCompiler = "c++", CFlags = "-O1", CacheDirectory = Path.Combine(dir, "cache"), Parallelism = parallelism,
        };
        return (settings, log);
    }

    static int Compiles(string log) => File.Exists(log) ? File.ReadAllLines(log).Length : 0;

    /// <summary>Writes a file whose modification time is safely in the past, as an editor's save long ago.</summary>
    static void WriteOld(string path, string text, int minutesAgo = 10)
    {
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-minutesAgo));
    }

    [Fact]
    public void CacheHitRunsNoCompiler()
    {
        string dir = TestSupport.NewTempDir();
        var (settings, log) = CountingCompiler(dir);
        string src = Path.Combine(dir, "a.c");
        WriteOld(src, "int answer(void) { return 42; }\n");
        string first = SourceCompiler.Compile(src, settings);
        Assert.Equal(1, Compiles(log));
        string second = SourceCompiler.Compile(src, settings);
        Assert.Equal(1, Compiles(log));
        Assert.Equal(first, second);
        Assert.True(File.Exists(second));
    }

    [Fact]
    public void ChangedSourceOrHeaderCompilesAgain()
    {
        string dir = TestSupport.NewTempDir();
        var (settings, log) = CountingCompiler(dir);
        string header = Path.Combine(dir, "value.h"), src = Path.Combine(dir, "b.c");
        WriteOld(header, "#define VALUE 1\n");
        WriteOld(src, "#include \"value.h\"\nint value(void) { return VALUE; }\n");
        string obj = SourceCompiler.Compile(src, settings);
        var before = File.ReadAllBytes(obj);
        SourceCompiler.Compile(src, settings);
        Assert.Equal(1, Compiles(log));

        WriteOld(header, "#define VALUE 2\n", minutesAgo: 5); // a stale header
        SourceCompiler.Compile(src, settings);
        Assert.Equal(2, Compiles(log));
        Assert.NotEqual(before, File.ReadAllBytes(obj));
        SourceCompiler.Compile(src, settings);
        Assert.Equal(2, Compiles(log));

        WriteOld(src, "#include \"value.h\"\nint value(void) { return VALUE + 1; }\n", minutesAgo: 4);
        SourceCompiler.Compile(src, settings);
        Assert.Equal(3, Compiles(log));
        // Other flags are another cache entry.
        SourceCompiler.Compile(src, settings with { CFlags = "-O2" });
        Assert.Equal(4, Compiles(log));
    }

    [Fact]
    public void JustModifiedFilesAreNotTrusted()
    {
        // A file modified after the compile started may have changed under the compiler: no stamp is
        // written, so the next run compiles again rather than trusting the object.
        string dir = TestSupport.NewTempDir();
        var (settings, log) = CountingCompiler(dir);
        string src = Path.Combine(dir, "c.c");
        File.WriteAllText(src, "int c(void) { return 3; }\n");
        File.SetLastWriteTimeUtc(src, DateTime.UtcNow.AddMinutes(5)); // "modified during the compile"
        SourceCompiler.Compile(src, settings);
        SourceCompiler.Compile(src, settings);
        Assert.Equal(2, Compiles(log));
    }

    [Fact]
    public void ParallelCompilesMatchSequentialOnes()
    {
        string dir = TestSupport.NewTempDir();
        var sources = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            string src = Path.Combine(dir, $"unit{i}.c");
            WriteOld(src, $"static int table[] = {{ {string.Join(", ", Enumerable.Range(i, 50))} }};\nint unit{i}(int k) {{ return table[k % 50] * {i}; }}\n");
            sources.Add(src);
        }
        var (parallel, logP) = CountingCompiler(Directory.CreateDirectory(Path.Combine(dir, "p")).FullName, parallelism: 4);
        var (sequential, logS) = CountingCompiler(Directory.CreateDirectory(Path.Combine(dir, "s")).FullName, parallelism: 1);
        var a = SourceCompiler.CompileAll(sources, parallel);
        var b = SourceCompiler.CompileAll(sources, sequential);
        Assert.Equal(8, Compiles(logP));
        Assert.Equal(8, Compiles(logS));
        for (int i = 0; i < sources.Count; i++) Assert.Equal(File.ReadAllBytes(b[i]), File.ReadAllBytes(a[i]));
    }

    [Fact]
    public void FailedCompileReportsTheFirstFailingSourceInOrder()
    {
        string dir = TestSupport.NewTempDir();
        var (settings, _) = CountingCompiler(dir);
        string good = Path.Combine(dir, "good.c"), bad1 = Path.Combine(dir, "bad1.c"), bad2 = Path.Combine(dir, "bad2.c");
        WriteOld(good, "int good(void) { return 0; }\n");
        WriteOld(bad1, "int bad1(void) { return }\n");
        WriteOld(bad2, "int bad2(void) { return }\n");
        var e = Assert.Throws<LinkError>(() => SourceCompiler.CompileAll([good, bad1, bad2], settings));
        Assert.StartsWith($"{bad1}: compilation with", e.Message);
        Assert.Throws<LinkError>(() => SourceCompiler.Compile(Path.Combine(dir, "missing.c"), settings));
    }
}
