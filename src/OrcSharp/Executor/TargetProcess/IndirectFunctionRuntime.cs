using System.Runtime.InteropServices;
using OrcSharp.Shared;

namespace OrcSharp.Executor.TargetProcess;

/// <summary>
/// Executor side of indirect functions (IFUNC): a finalize action that calls each resolver once and
/// stores the address it returns in the function's slot, as glibc applies IRELATIVE relocations. A
/// resolver is called as glibc calls it: with no arguments on x86-64; with (AT_HWCAP | _IFUNC_ARG_HWCAP,
/// &amp;{size, AT_HWCAP, AT_HWCAP2}) on AArch64. Argument (SPS): sequence of (resolver: addr, slot: addr).
/// </summary>
public static unsafe class IndirectFunctionRuntime
{
    const ulong AtHwcap = 16, AtHwcap2 = 26, IfuncArgHwcap = 1UL << 62;

    public static byte[] EncodeArgument(IEnumerable<(ExecutorAddr Resolver, ExecutorAddr Slot)> functions)
    {
        var list = functions.ToList();
        var w = new SpsWriter(8 + 16 * list.Count).U64((ulong)list.Count);
        foreach (var (resolver, slot) in list) w.Addr(resolver).Addr(slot);
        return w.ToArray();
    }

    [UnmanagedCallersOnly]
    public static CWrapperFunctionResult ResolveWrapper(byte* arg, nuint size)
    {
        string? error = null;
        try
        {
            var r = new SpsReader(new ReadOnlySpan<byte>(arg, checked((int)size)));
            int n = r.Count(16);
            var hwcap = stackalloc ulong[3] { 24, LibC.getauxval(AtHwcap), LibC.getauxval(AtHwcap2) };
            for (int i = 0; i < n; i++)
            {
                ulong resolver = r.U64(), slot = r.U64();
                *(ulong*)slot = HostArchitecture.IsArm64
                    ? ((delegate* unmanaged<ulong, ulong*, ulong>)resolver)(hwcap[1] | IfuncArgHwcap, hwcap)
                    : ((delegate* unmanaged<ulong>)resolver)();
            }
        }
        catch (LinkError e) { error = $"indirect functions: {e.Message}"; }
        return CWrapperFunctionResult.From(new SpsWriter().Error(error).WrittenSpan);
    }
}
