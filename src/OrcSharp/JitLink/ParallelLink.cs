namespace OrcSharp.JitLink;

/// <summary>Runs independent link work on all cores. If items fail, the failure of the earliest item (in
/// input order) is rethrown as itself, so errors are deterministic and never an AggregateException.</summary>
public static class ParallelLink
{
    public static void For(int count, Action<int> body, int minItemsPerTask = 1)
    {
        if (count == 0) return;
        var errors = new Exception?[count];
        int chunk = Math.Max(minItemsPerTask, count / (Environment.ProcessorCount * 4) + 1);
        Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(0, count, chunk), range =>
        {
            for (int i = range.Item1; i < range.Item2; i++)
            {
                try { body(i); }
                catch (Exception e) { errors[i] = e; }
            }
        });
        foreach (var e in errors)
            if (e is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
    }
}
