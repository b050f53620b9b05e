using System.Runtime.InteropServices;

namespace OrcSharp.Shared;

/// <summary>The architecture this process runs on, named as in target triples and --target.</summary>
public static class HostArchitecture
{
    public static bool IsArm64 { get; } = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
    public static string Name => IsArm64 ? "aarch64" : "x86_64";
    public static string Triple => Name + "-unknown-linux-gnu";
}
