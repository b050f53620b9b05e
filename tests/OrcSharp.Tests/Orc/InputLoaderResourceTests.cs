using OrcSharp.Executor.InProcess;
using OrcSharp.Orc;
using Xunit;

namespace OrcSharp.Tests.Orc;

/// <summary>
/// A long-lived host that gives every JITDylib the default libraries does not map libgcc.a (or any
/// library it only classifies) once per JITDylib: found by the fuzz campaign, whose worker ran out of
/// mappings (vm.max_map_count) after about 65,000 links.
/// </summary>
public class InputLoaderResourceTests
{
    /// <summary>Mappings of library files (the heap and thread stacks come and go on their own).</summary>
    static int Mappings() => File.ReadAllLines("/proc/self/maps").Count(l => l.EndsWith(".a") || l.Contains(".so"));

    [Fact]
    public void AddingDefaultLibrariesDoesNotMapThemAgain()
    {
        using var session = new ExecutionSession(new InProcessExecutorControl());
        for (int i = 0; i < 5; i++) new InputLoader(session.CreateJITDylib($"warm{i}"), []).AddDefaultLibraries(cxx: true);
        int before = Mappings();
        for (int i = 0; i < 300; i++) new InputLoader(session.CreateJITDylib($"jd{i}"), []).AddDefaultLibraries(cxx: true);
        int grown = Mappings() - before;
        Assert.True(grown < 10, $"{grown} more mappings of library files after 300 JITDylibs");
    }
}
