using OrcSharp.Executor.InProcess;
using OrcSharp.JitLink;
using OrcSharp.Orc;
using OrcSharp.Shared;

namespace OrcSharp.Fuzz;

/// <summary>How one input ended: linked, refused with a <see cref="LinkError"/>, or a bug (anything else).</summary>
public enum Outcome : byte { Linked, Refused, InternalError }

/// <summary>
/// The object target: the --noexec path of "orcsharp run" in memory, without a process. One input (an
/// object, or an archive linked after a driver that references main) goes through the ELF reader, the
/// graph builder, archive member loading, symbol resolution against the real C and C++ libraries,
/// the backend's GOT/stub/TLS passes, layout, allocation, fixups and finalization, into the
/// <see cref="FuzzExecutor"/> (or, with <c>inProcess</c>, this process's own memory, unlinked again after).
/// </summary>
public sealed class ObjectTarget(string driverObject, bool inProcess = false)
{
    /// <summary>Bytes one input may allocate on the managed heap: far above any seed's needs, far below
    /// what a size taken from a hostile header would cost.</summary>
    public const long AllocationBudget = 256L << 20;

    public (Outcome Outcome, Exception? Error) Run(byte[] input, bool isArchive)
    {
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        (Outcome, Exception?) result;
        var session = new ExecutionSession(inProcess ? new InProcessExecutorControl() : new FuzzExecutor());
        try
        {
            var jd = session.CreateJITDylib("fuzz");
            var loader = new InputLoader(jd, []);
            if (isArchive) loader.AddFile(driverObject);
            loader.AddBytes(isArchive ? "input.a" : "input.o", input);
            loader.AddDefaultLibraries(cxx: true);
            jd.Link();
            if (inProcess) session.RemoveJITDylib(jd);
            result = (Outcome.Linked, null);
        }
        catch (LinkError e) { result = (Outcome.Refused, e); }
        catch (Exception e) { result = (Outcome.InternalError, e); }
        // Linking runs on this thread (ParallelLink.Sequential), so this counts everything it allocated.
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        if (allocated > AllocationBudget) return (Outcome.InternalError, new InputAllocationException(allocated, input.Length));
        return result;
    }
}

/// <summary>An input made the linker allocate far more than its size warrants (a size from a header used
/// before it was checked). Reported as a failure like an internal error.</summary>
public sealed class InputAllocationException(long allocated, int inputLength)
    : Exception($"allocated {allocated >> 20} MiB for a {inputLength}-byte input");
