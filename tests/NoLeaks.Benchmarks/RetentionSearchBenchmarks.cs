using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using NoLeaks;

namespace NoLeaks.Benchmarks;

/// <summary>
/// What the retention search adds to a leak's report, in a process with about 150 MB of live objects that a static
/// holds (the search walks them): the report of one
/// leaked async method (no grace period, so nothing else is waited for) with the search off and with a budget. Two
/// shapes: what the method awaits is held by a static (the search stops once it has found the path and the awaited
/// object), and held only by a local of a thread blocked elsewhere, which the in-process search cannot see, so it
/// walks everything reachable before it gives its verdict.
/// </summary>
[MemoryDiagnoser]
public class RetentionSearchBenchmarks
{
    private static TaskCompletionSource? s_held;

    // Static, so that the search reaches it (it starts from statics and GC handles, not from stacks) and walks it.
    private static object[]? s_live;

    /// <summary>Where what the leaked method awaits is held.</summary>
    [Params("static", "thread local")]
    public string HeldBy { get; set; } = "static";

    /// <summary>The search's budget in milliseconds; 0: off.</summary>
    [Params(0, 1000, 30_000)]
    public int BudgetMs { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // About 150 MB of live objects: 1 M arrays of eight longs and 1 M strings of 16 characters.
        s_live = new object[2_000_000];
        for (var i = 0; i < s_live.Length; i += 2)
        {
            s_live[i] = new long[8];
            s_live[i + 1] = new string('x', 16);
        }

        LeakScope.Begin("warm-up").EndAsync().GetAwaiter().GetResult();
        var report = RunOnce();
        Console.WriteLine($"// {HeldBy}, {BudgetMs} ms: {report.Leaks[0].RetentionPath ?? "(no path)"} | {report.Leaks[0].Verdict ?? "(no verdict)"}");
    }

    [Benchmark]
    public int ReportOfOneLeak() => RunOnce().Leaks.Count + (s_live?.Length ?? 0);

    private LeakReport RunOnce()
    {
        var options = new NoLeaksOptions { GracePeriod = TimeSpan.Zero, RetentionBudget = TimeSpan.FromMilliseconds(BudgetMs) };
        using var release = new ManualResetEventSlim();
        Thread? holder = null;
        var scope = LeakScope.Begin("retention", options);
        if (HeldBy == "static")
        {
            s_held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            StartWait(s_held.Task);
        }
        else
        {
            using var started = new ManualResetEventSlim();
            Task? awaited = null;
            holder = new Thread(() =>
            {
                var local = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                awaited = local.Task;
                started.Set();
                release.Wait();
                local.SetResult();
            });
            holder.Start();
            started.Wait();
            StartWait(awaited!);
            awaited = null;
        }

        var report = scope.EndAsync().GetAwaiter().GetResult();
        s_held?.SetResult();
        s_held = null;
        release.Set();
        holder?.Join();
        if (report.Leaks.Count != 1)
        {
            throw new InvalidOperationException($"unexpected report for this benchmark:\n{report}");
        }

        return report;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartWait(Task awaited) => _ = WaitAsync(awaited);

    private static async Task WaitAsync(Task awaited) => await awaited;
}
