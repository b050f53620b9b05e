using OrcSharp.Conformance;
using Xunit;

namespace OrcSharp.Tests.Samples;

/// <summary>
/// The NuGet packages as a user gets them: "dotnet pack" makes OrcSharp and the orcsharp tool into a local
/// folder feed; a fresh project restores the library from that feed alone (no other source, its own
/// package folder, so nothing from the network or an older cache is used), builds the getting-started
/// sample, and runs it in process and with the tool, installed from the same feed, as its child executor.
/// </summary>
[Collection(BuildsOfTheRepo.Name)]
public sealed class PackageTests
{
    [Fact]
    public void PackagesInstallFromALocalFeedAndRunTheGettingStartedSample()
    {
        string work = TestSupport.NewTempDir();
        string feed = Path.Combine(work, "feed"), packages = Path.Combine(work, "packages"), app = Path.Combine(work, "app"), tools = Path.Combine(work, "tools");
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = packages, ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };
        void Dotnet(string dir, params string[] args)
        {
            var r = ProcessRunner.Run("dotnet", args, dir, timeoutMs: 20 * 60 * 1000, env: env);
            Assert.True(r.ExitCode == 0, $"dotnet {string.Join(' ', args)}: {r.StdoutText}{r.StderrText}");
        }
        Dotnet(TestSupport.RepoRoot, "pack", "src/OrcSharp", "-c", "Release", "-o", feed);
        Dotnet(TestSupport.RepoRoot, "pack", "src/OrcSharp.Cli", "-c", "Release", "-o", feed);

        // The library package: readme, XML docs and license as a user's tools show them.
        using (var nupkg = System.IO.Compression.ZipFile.OpenRead(Directory.GetFiles(feed, "OrcSharp.*.nupkg").Single(f => char.IsDigit(Path.GetFileName(f)["OrcSharp.".Length]))))
        {
            var names = nupkg.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("README.md", names);
            Assert.Contains("lib/net10.0/OrcSharp.xml", names);
            using var nuspec = new StreamReader(nupkg.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            string spec = nuspec.ReadToEnd();
            Assert.Contains("<license type=\"expression\">", spec);
            Assert.Contains("<description>A JIT linker", spec);
        }

        File.WriteAllText(Path.Combine(work, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><clear /><add key="local" value="{feed}" /></packageSources>
            </configuration>
            """);
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "app.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <AllowUnsafeBlocks>true</AllowUnsafeBlocks>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="OrcSharp" Version="*" />
                <None Include="add.c" CopyToOutputDirectory="PreserveNewest" />
              </ItemGroup>
            </Project>
            """);
        string sample = Path.Combine(TestSupport.RepoRoot, "samples", "GettingStarted");
        File.Copy(Path.Combine(sample, "Program.cs"), Path.Combine(app, "Program.cs"));
        File.Copy(Path.Combine(sample, "add.c"), Path.Combine(app, "add.c"));
        // Outside the repo, so its Directory.Build.props does not apply: a project as a user has it.
        Dotnet(app, "build", "-c", "Release", "--configfile", Path.Combine(work, "nuget.config"));
        Dotnet(work, "tool", "install", "OrcSharp.Cli", "--tool-path", tools, "--configfile", Path.Combine(work, "nuget.config"));

        string dll = Path.Combine(app, "bin", "Release", "net10.0", "app.dll");
        var inProcess = ProcessRunner.Run("dotnet", [dll], app, timeoutMs: 180000);
        Assert.Equal("add(2, 3) = 5\nadd(40, 2) = 42\nadd(1, 1) = 2\nhello, world\nmain returned 7\n", inProcess.StdoutText);
        var child = ProcessRunner.Run("dotnet", [dll, "--oop", Path.Combine(tools, "orcsharp")], app, timeoutMs: 180000);
        Assert.Equal("add(2, 3) = 5\nhello, world\nmain returned 7\n", child.StdoutText);
        Assert.Equal(0, child.ExitCode);
    }
}
