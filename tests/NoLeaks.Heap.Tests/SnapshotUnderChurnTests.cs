using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// Snapshots are read while other threads allocate, move and finish objects. Whatever a torn read or a GC in the
/// middle of a walk does, the contract holds: no exception reaches the test, no phantom leak, at most one warning.
/// Alone in its collection, so that the 1,000 forced GCs do not slow the other tests and nothing else is pending.
/// </summary>
[Collection(nameof(SnapshotUnderChurnTests))]
[CollectionDefinition(nameof(SnapshotUnderChurnTests), DisableParallelization = true)]
public class SnapshotUnderChurnTests
{
    // Each scope takes one snapshot when it begins and at least two when it ends (HeapSource.OnScopeBegun, then
    // CollectPending reads until two snapshots agree), each with the scope's own forced GCs: 1,000 snapshots or more.
    private const int Scopes = 340;
    private const int Churners = 2;

    [Fact(Timeout = 300_000)]
    public async Task Thousand_snapshots_while_two_threads_churn_throw_nothing_and_report_no_phantom_leak()
    {
        var cancel = TestContext.Current.CancellationToken;
        using var stop = new CancellationTokenSource();
        var churn = new Churn[Churners];
        var threads = new Thread[Churners];
        for (var i = 0; i < Churners; i++)
        {
            var state = churn[i] = new Churn();
            threads[i] = new Thread(() => state.Run(stop.Token)) { IsBackground = true, Name = $"churn {i}" };
            threads[i].Start();
        }

        var warnings = new List<string>();
        var capturesBefore = NoLeaks.Heap.SharedHeap.Get().Captures;
        var watch = Stopwatch.StartNew();
        try
        {
            await Task.WhenAll(churn.Select(c => c.Started.Task)).WaitAsync(cancel);
            for (var i = 0; i < Scopes; i++)
            {
                var scope = LeakScope.Begin($"empty {i}", new NoLeaksOptions { Source = LeakSource.Heap, GracePeriod = TimeSpan.Zero });
                var report = await scope.EndAsync(cancellationToken: cancel);

                Assert.True(report.IsClean, $"scope {i} created nothing, yet:\n{report}");
                Assert.True(report.Warnings.Count <= 1, $"scope {i}: more than one warning:\n{report}");
                warnings.AddRange(report.Warnings);
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var thread in threads)
            {
                thread.Join();
            }
        }

        watch.Stop();
        var snapshots = NoLeaks.Heap.SharedHeap.Get().Captures - capturesBefore;
        Assert.All(churn, c => Assert.Null(c.Failure));
        var tasks = churn.Sum(c => c.TasksCompleted);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{Scopes} scopes ({snapshots:N0} snapshots) in {watch.Elapsed.TotalSeconds:0.0} s, {tasks:N0} tasks completed by the churn, " +
            $"{warnings.Count} warnings{(warnings.Count > 0 ? ": " + string.Join(" | ", warnings.Distinct()) : "")}");

        Assert.True(snapshots >= 1_000, $"only {snapshots} snapshots were taken");

        // The churn really ran alongside (not only before or after) the snapshots.
        Assert.All(churn, c => Assert.True(c.TasksCompleted > Scopes, $"a churn thread completed only {c.TasksCompleted} tasks"));

        // A snapshot that failed says so in one sentence; most must not fail, or the test proves nothing.
        Assert.All(warnings, w => Assert.Contains("nothing is reported", w, StringComparison.Ordinal));
        Assert.True(warnings.Count < Scopes / 10, $"{warnings.Count} of {Scopes} checks could not read the heap");
    }

    /// <summary>One thread's work: allocations that survive a while (so GCs move them) and tasks made and finished.</summary>
    private sealed class Churn
    {
        private readonly object?[] _survivors = new object?[4096];

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Exception? Failure { get; private set; }

        public long TasksCompleted;

        public void Run(CancellationToken stop)
        {
            try
            {
                var random = new Random(Environment.CurrentManagedThreadId);
                Started.SetResult();
                while (!stop.IsCancellationRequested)
                {
                    for (var i = 0; i < 64; i++)
                    {
                        _survivors[random.Next(_survivors.Length)] = random.Next(4) switch
                        {
                            0 => new byte[random.Next(16, 2048)],
                            1 => new List<string> { "churn", i.ToString() },
                            2 => new object(),
                            _ => new TaskCompletionSource<int>(),
                        };
                    }

                    // An async method suspended then resumed, a pooled one, a ContinueWith, a Task.Run: each finished.
                    var gate = new TaskCompletionSource();
                    var method = AwaitAsync(gate.Task);
                    var pooled = AwaitPooledAsync(gate.Task);
                    var continuation = gate.Task.ContinueWith(static _ => { }, TaskScheduler.Default);
                    var run = Task.Run(static () => 1);
                    gate.SetResult();
                    method.Wait(stop);
                    pooled.AsTask().Wait(stop);
                    continuation.Wait(stop);
                    run.Wait(stop);
                    Interlocked.Add(ref TasksCompleted, 4);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                Failure = e;
                Started.TrySetException(e);
            }
        }

        private static async Task AwaitAsync(Task gate) => await gate;

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
        private static async ValueTask AwaitPooledAsync(Task gate) => await gate;
    }
}
