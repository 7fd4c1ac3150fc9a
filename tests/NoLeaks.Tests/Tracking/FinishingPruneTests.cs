using NoLeaks.Tracking;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// The runtime takes a delegate task or a promise out of its record before it marks it completed, so the creation hook
/// cannot tell, when it sees the task again, whether it is finishing or only awaited once more. Such ids are pruned on
/// their own: finished work is forgotten while its records are young, pending work awaited again is kept.
/// </summary>
public class FinishingPruneTests
{
    [Fact(Timeout = 10_000)]
    public async Task Records_of_finished_delegate_tasks_are_forgotten_and_work_awaited_again_is_kept()
    {
        var token = TestContext.Current.CancellationToken;
        var source = Assert.IsType<TrackingSource>(LeakEngine.Tracking.Source);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("finishing", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
        Task[] pending;
        try
        {
            var waiter = AwaitAsync(gate.Task);

            // Awaited twice more: the runtime records the waiter again for each await, while it is still pending.
            pending = [waiter, AwaitAsync(waiter), AwaitAsync(waiter)];
            for (var i = 0; i < 1_000; i++)
            {
                await Task.Run(() => { }, token);
            }

            Assert.Equal("the runtime's active-task dictionary", source.CreationHook);
            source.ForgetFinished(scope);

            // 1,000 finished delegate tasks would otherwise be kept for a second (their records are young).
            Assert.InRange(scope.Operations.Count, 3, 20);
            // (Also pending: this test method's own box, created inside the scope at its first await.)
            Assert.Subset(source.PendingTasksOf(scope).Select(task => task.Id).ToHashSet(), pending.Select(task => task.Id).ToHashSet());
        }
        catch
        {
            gate.TrySetResult();
            throw;
        }

        var report = await scope.EndAsync(cancellationToken: token);
        gate.SetResult();
        await Task.WhenAll(pending);

        // One entry: the innermost method, awaited by the other two.
        Assert.Equal("FinishingPruneTests.AwaitAsync", Assert.Single(report.Leaks).Method);
    }

    private static async Task AwaitAsync(Task task) => await task;
}
