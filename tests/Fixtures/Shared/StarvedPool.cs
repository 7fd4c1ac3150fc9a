namespace NoLeaks.Fixtures;

/// <summary>
/// A starved thread pool, as suites whose tests block pool threads make one: <see cref="QueueWorkBehindIt"/> queues a
/// short task of the calling test that no thread takes until <paramref name="starvedFor"/> has passed. The task waits in
/// the local queue of a pool thread that then blocks; every other thread keeps finding work in the pool's global queue
/// (tickers that queue themselves again), so none steals it, and the pool is capped so that it cannot add a thread that
/// would. Timers (the leak check's own) run in between the tickers. Caps the process's pool: only for a fixture test
/// run alone in a process of its own.
/// </summary>
public static class StarvedPool
{
    /// <summary>Set by the adapter test that runs such a test alone.</summary>
    public const string Variable = "NOLEAKS_FIXTURE_STARVE";

    public static bool Wanted => Environment.GetEnvironmentVariable(Variable) == "1";

    /// <summary>Returns once the test's task is queued behind the starved pool.</summary>
    public static void QueueWorkBehindIt(TimeSpan starvedFor)
    {
        var threads = Environment.ProcessorCount + 2;
        ThreadPool.GetMinThreads(out _, out var minIo);
        ThreadPool.GetMaxThreads(out _, out var maxIo);
        if (!ThreadPool.SetMaxThreads(threads, maxIo) || !ThreadPool.SetMinThreads(threads, minIo))
        {
            throw new InvalidOperationException($"the thread pool could not be capped at {threads} threads");
        }

        // About time itself: how long the pool stays starved, from a thread outside it.
        var release = new ManualResetEventSlim();
        new Thread(() =>
        {
            Thread.Sleep(starvedFor);
            release.Set();
        }) { IsBackground = true }.Start();

        void Tick(object? _)
        {
            if (!release.IsSet)
            {
                Thread.Sleep(1);
                ThreadPool.UnsafeQueueUserWorkItem<object?>(Tick, null, preferLocal: false);
            }
        }

        for (var ticker = 0; ticker < threads + 2; ticker++)
        {
            ThreadPool.UnsafeQueueUserWorkItem<object?>(Tick, null, preferLocal: false);
        }

        using var queued = new ManualResetEventSlim();
        ThreadPool.QueueUserWorkItem(_ =>
        {
            _ = Task.Run(() => { }); // the test's work (the context flows): queued locally on this thread, which now blocks
            queued.Set();
            release.Wait();
        });
        if (!queued.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("the test's work was not queued within 30 s");
        }
    }
}
