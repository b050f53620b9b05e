using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Orc;

/// <summary>
/// Every FDE of kept code reaches the unwinder (issue 11, item 4): Boost.Regex from Debian's static
/// libboost_regex.a throws from inside the archive, through members whose COMDAT copies were discarded,
/// and the program catches it, in any member order, in process and out of process, byte for byte like
/// the native link. (tests/corpus/cpp/eh_comdat is the same pattern without Boost.)
/// </summary>
public class UnwindTableTests
{
    const string BoostRegexArchive = "/usr/lib/x86_64-linux-gnu/libboost_regex.a"; // Debian: libboost-regex-dev

    const string Program = """
        #include <boost/regex.hpp>
        #include <iostream>
        int main()
        {
            try { boost::regex bad("("); std::cout << "no exception\n"; }
            catch (const boost::regex_error& e) { std::cout << "regex_error " << e.code() << ": " << e.what() << "\n"; }
            try { boost::regex also_bad("a{3,1}"); }
            catch (...) { std::cout << "caught by catch (...)\n"; }
            boost::regex mail("(\\w+)@(\\w+)\\.com");
            boost::smatch m;
            std::string text = "write to bob@example.com today";
            if (boost::regex_search(text, m, mail)) std::cout << "user " << m[1] << ", host " << m[2] << "\n";
            std::cout << boost::regex_replace(std::string("a1b22c333"), boost::regex("[0-9]+"), std::string("#")) << "\n";
            return 0;
        }
        """;

    public static TheoryData<string, bool> Variants() => new()
    {
        { "archive as installed", false }, { "archive as installed", true },
        { "members reversed", false }, { "members reversed", true },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void BoostRegexExceptionsAreCaught(string archive, bool outOfProcess)
    {
        Assert.True(File.Exists(BoostRegexArchive), $"{BoostRegexArchive} is missing: install libboost-regex-dev (.ci/run does)");
        string dir = TestSupport.NewTempDir();
        string obj = TestSupport.CompileCxx(dir, "regex_prog", Program, "-O2");
        string lib = archive == "members reversed" ? Reversed(dir, BoostRegexArchive) : BoostRegexArchive;

        string exe = Path.Combine(dir, "native");
        var link = TestSupport.Run("c++", obj, lib, "-o", exe);
        Assert.True(link.ExitCode == 0, link.StderrText);
        var native = TestSupport.Run(exe);
        Assert.Equal(0, native.ExitCode);
        Assert.Contains("regex_error", native.StdoutText);

        var args = new List<string> { "run" };
        if (outOfProcess) args.Add("--oop");
        args.AddRange([obj, lib]);
        var jit = TestSupport.RunOrcsharp([.. args]);
        Assert.Equal(native.StderrText, jit.StderrText);
        Assert.Equal(native.StdoutText, jit.StdoutText);
        Assert.Equal(native.ExitCode, jit.ExitCode);
    }

    /// <summary>The same members in the opposite order: which copy of each COMDAT group is kept changes.</summary>
    static string Reversed(string dir, string archive)
    {
        string members = Path.Combine(dir, "members");
        Directory.CreateDirectory(members);
        Assert.Equal(0, ProcessRunner.Run("ar", ["x", archive], members).ExitCode);
        var names = TestSupport.Run("ar", "t", archive).StdoutText.Split('\n', StringSplitOptions.RemoveEmptyEntries).Reverse().ToList();
        string lib = Path.Combine(dir, "reversed.a");
        Assert.Equal(0, ProcessRunner.Run("ar", new[] { "rcs", lib }.Concat(names.Select(n => Path.Combine(members, n))), members).ExitCode);
        return lib;
    }
}
