namespace OrcSharp.JitLink;

/// <summary>
/// Runs independent link work on all cores, when there is enough of it to pay for a thread. If items fail,
/// the failure of the earliest item (in input order) is rethrown as itself, so errors are deterministic and
/// never an AggregateException.
/// </summary>
/// <remarks>
/// Not the thread pool: a link is a few short bursts of work, and the pool answers each burst by starting
/// workers plus a gate thread and spinning (sched_yield) while it waits. Here helper threads are started
/// only when a burst is large enough (<see cref="BytesPerThread"/>), one per extra core at most, kept for
/// the next burst, and they sleep in the kernel between bursts. The calling thread always works too.
/// </remarks>
public static class ParallelLink
{
    /// <summary>Run everything on the calling thread. For processes started with a large static TLS reserve:
    /// glibc carves it from every new thread's stack, so a helper thread may not start.</summary>
    public static bool Sequential { get; set; }

    /// <summary>The work, in bytes of input, that makes one more thread worth waking: starting or waking a
    /// helper costs tens of microseconds, a megabyte of parsing or fixing up costs about a millisecond.</summary>
    public const long BytesPerThread = 4 << 20;

    /// <summary>The cost of an item whose size is not known in advance (a small file to open and read).</summary>
    public const long BytesPerSmallItem = 64 << 10;

    /// <summary>Runs <paramref name="body"/> for 0..count-1. <paramref name="workBytes"/>, the input bytes the
    /// whole loop handles, decides how many threads take part.</summary>
    public static void For(int count, long workBytes, Action<int> body)
    {
        if (count == 0) return;
        int threads = Sequential ? 1 : (int)Math.Clamp(workBytes / BytesPerThread, 1, Math.Min(count, Environment.ProcessorCount));
        var errors = new Exception?[count];
        if (threads == 1)
        {
            for (int i = 0; i < count; i++) Run(body, i, errors);
        }
        else
        {
            // Chunks small enough to even out unequal items, large enough that taking one is rare.
            int chunk = Math.Max(1, count / (threads * 8));
            var job = new Job(count, chunk, i => Run(body, i, errors));
            Helpers.Start(job, threads - 1);
            job.Work();
            job.Close();
            Helpers.Finish(job);
        }
        foreach (var e in errors)
            if (e is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
    }

    static void Run(Action<int> body, int i, Exception?[] errors)
    {
        try { body(i); }
        catch (Exception e) { errors[i] = e; }
    }

    /// <summary>One loop shared by the calling thread and the helpers that join it before it closes.</summary>
    sealed class Job(int count, int chunk, Action<int> item)
    {
        int _next;
        // Helpers inside Work, plus ClosedBit once the caller has finished its share.
        int _state;
        const int ClosedBit = 1 << 30;
        readonly ManualResetEventSlim _idle = new(false, spinCount: 0);

        public void Work()
        {
            for (int from; (from = Interlocked.Add(ref _next, chunk) - chunk) < count;)
                for (int i = from, to = Math.Min(from + chunk, count); i < to; i++) item(i);
        }

        /// <summary>A helper's turn: joins unless the caller has already closed the job.</summary>
        public void Join()
        {
            for (int s = Volatile.Read(ref _state); (s & ClosedBit) == 0; s = Volatile.Read(ref _state))
            {
                if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
                Work();
                if (Interlocked.Decrement(ref _state) == ClosedBit) _idle.Set();
                return;
            }
        }

        /// <summary>The caller's end: no helper joins from now on; waits for those still working.</summary>
        public void Close()
        {
            if ((Interlocked.Or(ref _state, ClosedBit) & ~ClosedBit) != 0) _idle.Wait();
            _idle.Dispose();
        }
    }

    /// <summary>Helper threads, started on first need and kept, sleeping until the next job.</summary>
    static class Helpers
    {
        static readonly object Gate = new();
        static readonly List<Thread> Threads = new();
        static Job? _job;
        static int _wanted; // how many helpers the current job may take
        static long _generation;

        public static void Start(Job job, int helpers)
        {
            lock (Gate)
            {
                while (Threads.Count < helpers)
                {
                    var t = new Thread(Loop) { IsBackground = true, Name = "orcsharp-link" };
                    t.Start();
                    Threads.Add(t);
                }
                _job = job;
                _wanted = helpers;
                _generation++;
                Monitor.PulseAll(Gate);
            }
        }

        /// <summary>No late helper joins <paramref name="job"/>, and it is not kept alive.</summary>
        public static void Finish(Job job)
        {
            lock (Gate)
                if (_job == job) { _job = null; _wanted = 0; }
        }

        static void Loop()
        {
            long seen = 0;
            while (true)
            {
                Job? job;
                lock (Gate)
                {
                    while (_generation == seen || _wanted == 0) { seen = _generation; Monitor.Wait(Gate); }
                    seen = _generation;
                    _wanted--;
                    job = _job;
                }
                job?.Join();
            }
        }
    }
}
