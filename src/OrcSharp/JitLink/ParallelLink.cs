namespace OrcSharp.JitLink;

/// <summary>Runs independent link work on all cores. If items fail, the failure of the earliest item (in
/// input order) is rethrown as itself, so errors are deterministic and never an AggregateException.</summary>
public static class ParallelLink
{
    /// <summary>Run everything on the calling thread. For processes started with a large static TLS reserve:
    /// glibc carves it from every new thread's stack, so the runtime's small-stack pool threads cannot start.</summary>
    public static bool Sequential { get; set; }

    public static void For(int count, Action<int> body, int minItemsPerTask = 1)
    {
        if (count == 0) return;
        var errors = new Exception?[count];
        int chunk = Math.Max(minItemsPerTask, count / (Environment.ProcessorCount * 4) + 1);
        void Run(int from, int to)
        {
            for (int i = from; i < to; i++)
            {
                try { body(i); }
                catch (Exception e) { errors[i] = e; }
            }
        }
        // One chunk's worth of work is not worth waking the thread pool for.
        if (Sequential || count <= chunk) Run(0, count);
        else Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(0, count, chunk), range => Run(range.Item1, range.Item2));
        foreach (var e in errors)
            if (e is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
    }
}
