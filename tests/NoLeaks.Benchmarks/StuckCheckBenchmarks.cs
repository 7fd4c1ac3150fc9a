using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using NoLeaks;

namespace NoLeaks.Benchmarks;

/// <summary>
/// The time from a test's end to its failure when it leaves an async method waiting on a completion source nobody
/// holds: with the stuck check (a young-generation collection, and a full one when the work is old) and on the
/// grace-period path, in a process with about 150 MB of live objects.
/// </summary>
[MemoryDiagnoser]
public class StuckCheckBenchmarks
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(1);
    private object[]? _live;

    /// <summary>Whether the stuck check runs (true) or the grace period is waited (false).</summary>
    [Params(true, false)]
    public bool DetectStuckWork { get; set; }

    /// <summary>
    /// Whether the leaked work was promoted to the oldest generation before the test's end (two collections in the
    /// test): then a young-generation collection cannot free it and the check needs a full one.
    /// </summary>
    [Params(false, true)]
    public bool OldWork { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // About 150 MB of live objects: 1 M arrays of eight longs and 1 M strings of 16 characters.
        _live = new object[2_000_000];
        for (var i = 0; i < _live.Length; i += 2)
        {
            _live[i] = new long[8];
            _live[i + 1] = new string('x', 16);
        }

        LeakScope.Begin("warm-up").EndAsync().GetAwaiter().GetResult();
        RunOnce();
    }

    [Benchmark]
    public int TimeToFailure() => RunOnce();

    private int RunOnce()
    {
        var scope = LeakScope.Begin("stuck", new NoLeaksOptions { GracePeriod = Grace, DetectStuckWork = DetectStuckWork });
        StartOrphanedWait();
        if (OldWork)
        {
            GC.Collect();
            GC.Collect();
        }

        var report = scope.EndAsync().GetAwaiter().GetResult();
        if (report.Leaks.Count != 1 || (DetectStuckWork && report.Waited >= Grace))
        {
            throw new InvalidOperationException($"unexpected report for this benchmark:\n{report}");
        }

        return report.Leaks.Count + (_live?.Length ?? 0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartOrphanedWait() => _ = WaitOnOrphanAsync();

    private static async Task WaitOnOrphanAsync()
    {
        var nobodyElse = new TaskCompletionSource();
        await nobodyElse.Task;
    }
}
