namespace OrcSharp.Platform.Debugging;

/// <summary>
/// What every link tells the tools that look at a running program. Each link's debug object is
/// registered with the executor's GDB JIT interface and its crash-report tables unless
/// <see cref="DebugObjects"/> is false (or ORCSHARP_DEBUG_OBJECTS=0); profiler files are written on request, by the process
/// that runs the code: <c>/tmp/perf-PID.map</c> (<see cref="PerfMap"/>, or ORCSHARP_PERF_MAP=1) and
/// <c>jit-PID.dump</c> for <c>perf inject --jit</c> (<see cref="JitDump"/>, or ORCSHARP_JITDUMP=1).
/// </summary>
public sealed class DebugSupport
{
    public bool DebugObjects { get; set; } = true;
    public bool PerfMap { get; set; }
    public bool JitDump { get; set; }

    /// <summary>The defaults, with the profiler files a library host asked for in its environment.</summary>
    public static DebugSupport FromEnvironment() => new()
    {
        DebugObjects = Environment.GetEnvironmentVariable("ORCSHARP_DEBUG_OBJECTS") != "0",
        PerfMap = Environment.GetEnvironmentVariable("ORCSHARP_PERF_MAP") == "1",
        JitDump = Environment.GetEnvironmentVariable("ORCSHARP_JITDUMP") == "1",
    };
}
