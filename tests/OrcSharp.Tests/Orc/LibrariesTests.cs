using OrcSharp.Orc.Libraries;
using OrcSharp.Shared;
using Xunit;

namespace OrcSharp.Tests.Orc;

/// <summary>Archives (indexed, unindexed, thin, long names), ld scripts and -l search rules.</summary>
public class LibrariesTests
{
    static (string Dir, string A, string B) TwoObjects()
    {
        string dir = TestSupport.NewTempDir();
        string a = TestSupport.CompileC(dir, "first_member_with_a_long_name", "int alpha(void) { return 1; }\nint common_tentative;\n", "-O1 -fcommon");
        string b = TestSupport.CompileC(dir, "b", "int beta(void) { return 2; }\n");
        return (dir, a, b);
    }

    [Theory]
    [InlineData("rcs")] // GNU symbol index
    [InlineData("rcS")] // no index: built by reading members
    [InlineData("rcsT")] // thin archive
    public void FindsMembersByDefinedSymbol(string arFlags)
    {
        var (dir, a, b) = TwoObjects();
        string lib = Path.Combine(dir, "lib.a");
        Assert.Equal(0, TestSupport.Run("ar", arFlags, lib, a, b).ExitCode);
        var ar = StaticArchive.Parse(lib, File.ReadAllBytes(lib));
        Assert.True(ar.TryFindMemberDefining("alpha", out int ia));
        Assert.True(ar.TryFindMemberDefining("beta", out int ib));
        Assert.True(ar.TryFindMemberDefining("common_tentative", out _));
        Assert.False(ar.TryFindMemberDefining("gamma", out _));
        Assert.NotEqual(ia, ib);
        // Thin archives name members by path; regular ones by file name (here a long name from the "//" table).
        Assert.StartsWith($"{lib}(", ar.MemberDisplayName(ia));
        Assert.EndsWith("first_member_with_a_long_name.o)", ar.MemberDisplayName(ia));
        if (!arFlags.Contains('T')) Assert.Equal($"{lib}(first_member_with_a_long_name.o)", ar.MemberDisplayName(ia));
        Assert.Equal(File.ReadAllBytes(a), ar.GetMemberBytes(ia).ToArray());
    }

    [Fact]
    public void TruncatedArchiveIsAnError()
    {
        var (dir, a, _) = TwoObjects();
        string lib = Path.Combine(dir, "lib.a");
        TestSupport.Run("ar", "rcs", lib, a);
        var bytes = File.ReadAllBytes(lib);
        var e = Assert.Throws<LinkError>(() => StaticArchive.Parse(lib, bytes[..(bytes.Length - 100)]));
        Assert.Contains(lib, e.Message);
        Assert.Throws<LinkError>(() => StaticArchive.Parse(lib, "!<arch>\nshort"u8.ToArray()));
        Assert.Throws<LinkError>(() => StaticArchive.Parse(lib, "not an archive"u8.ToArray()));
    }

    [Fact]
    public void ParsesDebianLibcScript()
    {
        const string text = "/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )\n";
        var (entries, _) = LdScript.Parse("libc.so", text);
        Assert.Equal(3, entries.Count);
        Assert.Equal(new LdScriptEntry("/lib/x86_64-linux-gnu/libc.so.6", false, false), entries[0]);
        Assert.Equal(new LdScriptEntry("/usr/lib/x86_64-linux-gnu/libc_nonshared.a", false, false), entries[1]);
        Assert.Equal(new LdScriptEntry("/lib64/ld-linux-x86-64.so.2", false, true), entries[2]);
    }

    [Fact]
    public void ParsesLibEntriesInputAndNestedLists()
    {
        var (entries, dirs) = LdScript.Parse("x.so", "SEARCH_DIR(/opt/lib) INPUT(-lfoo, \"bar baz.a\") GROUP(a.so AS_NEEDED(-lq b.so))");
        Assert.Equal(["/opt/lib"], dirs);
        Assert.Equal(new LdScriptEntry("foo", true, false), entries[0]);
        Assert.Equal(new LdScriptEntry("bar baz.a", false, false), entries[1]);
        Assert.Equal(new LdScriptEntry("q", true, true), entries[3]);
        Assert.Equal(new LdScriptEntry("b.so", false, true), entries[4]);
    }

    [Theory]
    [InlineData("GROUP ( a.so ")]
    [InlineData("GROUP a.so")]
    [InlineData("/* open comment")]
    [InlineData("SECTIONS ( )")]
    public void MalformedScriptsAreErrors(string text)
    {
        var e = Assert.Throws<LinkError>(() => LdScript.Parse("bad.so", text));
        Assert.Contains("bad.so", e.Message);
    }

    [Fact]
    public void LibmResolvesThroughItsScript()
    {
        var found = LibrarySearch.ForHost([]).Resolve("m");
        Assert.Contains(found, f => f.Path.EndsWith("libm.so.6") && f.Kind == InputKind.SharedLibrary && !f.AsNeeded);
        Assert.Contains(found, f => f.Path.EndsWith("libmvec.so.1") && f.AsNeeded);
    }

    [Fact]
    public void LibcBringsLibcNonshared()
    {
        var found = LibrarySearch.ForHost([]).Resolve("c");
        Assert.Contains(found, f => f.Path.EndsWith("libc.so.6") && f.Kind == InputKind.SharedLibrary);
        Assert.Contains(found, f => f.Path.EndsWith("libc_nonshared.a") && f.Kind == InputKind.StaticArchive);
    }

    /// <summary>Libraries are classified from their first page; a script longer than that is still read
    /// whole (its GROUP comes after a long comment here).</summary>
    [Fact]
    public void ScriptLongerThanAPageIsReadWhole()
    {
        var (dir, a, b) = TwoObjects();
        TestSupport.Run("ar", "rcs", Path.Combine(dir, "libfirst.a"), a);
        TestSupport.Run("ar", "rcs", Path.Combine(dir, "libsecond.a"), b);
        string comment = "/* " + string.Concat(Enumerable.Repeat("a comment line that pads the script\n", 300)) + "*/\n";
        File.WriteAllText(Path.Combine(dir, "libpair.so"), comment + "INPUT ( -lfirst )\nGROUP ( libsecond.a )\n");
        Assert.True(new FileInfo(Path.Combine(dir, "libpair.so")).Length > 2 * 4096);
        var found = new LibrarySearch([dir], []).Resolve("pair");
        Assert.Equal([Path.Combine(dir, "libfirst.a"), Path.Combine(dir, "libsecond.a")], found.Select(f => f.Path));
        Assert.All(found, f => Assert.Equal(InputKind.StaticArchive, f.Kind));
    }

    [Fact]
    public void GccLibrariesAreFound()
    {
        var search = LibrarySearch.ForHost([]);
        Assert.Contains(search.Resolve("stdc++"), f => f.Kind == InputKind.SharedLibrary && f.Path.Contains("libstdc++"));
        Assert.NotNull(search.TryFindStatic("gcc"));
    }

    [Fact]
    public void SharedBeforeStaticInADirectory_UserDirsFirst_MissingIsAnError()
    {
        var (dir, a, _) = TwoObjects();
        TestSupport.Run("ar", "rcs", Path.Combine(dir, "libx.a"), a);
        Assert.Equal(Path.Combine(dir, "libx.a"), new LibrarySearch([dir], []).Find("x"));
        File.Copy("/lib/x86_64-linux-gnu/libm.so.6", Path.Combine(dir, "libx.so"));
        Assert.Equal(Path.Combine(dir, "libx.so"), new LibrarySearch([dir], []).Find("x"));
        Assert.Equal(Path.Combine(dir, "libx.a"), new LibrarySearch([dir], []).Find(":libx.a"));
        var e = Assert.Throws<LinkError>(() => new LibrarySearch([dir], ["/nonexistent"]).Resolve("nothere"));
        Assert.Contains("cannot find -lnothere", e.Message);
        Assert.Contains(dir, e.Message);
    }
}
