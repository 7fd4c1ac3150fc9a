using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

/// <summary>Work that looks like a leak but is not: none of it may be reported.</summary>
public class CleanPatternTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = TestTimeout)]
    public async Task Fire_and_forget_work_that_ends_inside_the_grace_period_is_clean()
    {
        // The work is still pending when the scope ends, and ends (released by the test) while the scope waits.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("fire and forget", Scopes.Options(TimeSpan.FromSeconds(20)));
        _ = Task.Run(async () => await release.Task, Cancel);
        var ending = scope.EndAsync(cancellationToken: Cancel);
        release.SetResult();
        var report = await ending;

        Scopes.Clean(report);
        Assert.True(report.Waited > TimeSpan.Zero, $"the scope should have waited for the work to finish:\n{report}");
        Assert.True(report.Waited < TimeSpan.FromSeconds(15), $"it waited {report.Waited}, to the end of the grace period");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_hook_that_awaits_the_check_through_methods_of_its_own_is_clean()
    {
        // xunit v3's asynchronous test notification awaits the adapter's async methods, which await the scope's end. The
        // method that ends the scope leaves it first, so its box is no work of the scope's; the methods above it are
        // (the scope flows into them): they wait for the check through a task the scope does not own.
        var scope = LeakScope.Begin("ended by an awaited hook", Scopes.Options(TimeSpan.FromMilliseconds(300)));
        var report = await HookAsync(scope).WaitAsync(Cancel);

        Scopes.Clean(report);
    }

    private static async Task<LeakReport> HookAsync(LeakScope scope)
    {
        var report = await EndingAsync(scope);
        return report;
    }

    private static async Task<LeakReport> EndingAsync(LeakScope scope) => await scope.EndAsync(cancellationToken: Cancel);

    [Fact(Timeout = TestTimeout)]
    public async Task Work_cancelled_when_the_scope_ends_is_clean()
    {
        using var stop = new CancellationTokenSource();
        var scope = LeakScope.Begin("cancelled", Scopes.Options());
        _ = LoopAsync(stop.Token);
        stop.Cancel();
        var report = await scope.EndAsync(cancellationToken: Cancel);

        Scopes.Clean(report);
    }

    private static async Task LoopAsync(CancellationToken token)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Timeout.Infinite, token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_started_before_the_scope_is_not_the_scopes()
    {
        using var stop = new CancellationTokenSource();
        var before = LoopAsync(stop.Token);
        var report = await Scopes.CheckAsync("before", async () => await Task.Yield());

        stop.Cancel();
        await before;
        Scopes.Clean(report);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Completed_and_cached_tasks_are_clean()
    {
        var report = await Scopes.CheckAsync("cached", async () =>
        {
            await Task.CompletedTask;
            await Task.FromResult(42);
            await new ValueTask<int>(7);
            await Task.WhenAll(Task.CompletedTask, Task.FromResult(1));
            _ = Task.FromResult("never awaited");
            _ = Task.FromCanceled(new CancellationToken(canceled: true));
        });

        Scopes.Clean(report);
        Assert.Equal(TimeSpan.Zero, report.Waited);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Ten_thousand_short_async_operations_are_clean_and_cost_no_wait()
    {
        var report = await Scopes.CheckAsync("ten thousand", async () =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                await ShortAsync(i);
            }

            await Task.WhenAll(Enumerable.Range(0, 1_000).Select(ShortAsync));
        });

        Scopes.Clean(report);
        Assert.Equal(TimeSpan.Zero, report.Waited);
    }

    private static async Task<int> ShortAsync(int i)
    {
        await Task.Yield();
        return i;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Clean_scope_waits_for_nothing()
    {
        var scope = LeakScope.Begin("clean", new NoLeaksOptions { GracePeriod = TimeSpan.FromMinutes(10), Source = Scopes.Source });
        await ShortAsync(1);
        var ending = scope.EndAsync(cancellationToken: Cancel);

        Assert.True(ending.IsCompletedSuccessfully, "a clean scope ends synchronously");
        Scopes.Clean(await ending);
        Assert.Equal(TimeSpan.Zero, (await ending).Waited);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Two_concurrent_scopes_see_only_their_own_work()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var bothStarted = new Barrier(2);

        async Task<LeakReport> RunAsync(string name, bool leak)
        {
            var scope = LeakScope.Begin(name, Scopes.Options());
            bothStarted.SignalAndWait(Cancel);
            if (leak)
            {
                _ = AwaitAsync(never.Task);
            }
            else
            {
                await ShortAsync(1);
            }

            bothStarted.SignalAndWait(Cancel);
            return await scope.EndAsync(cancellationToken: Cancel);
        }

        var leaking = Task.Run(() => RunAsync("leaking", leak: true), Cancel);
        var clean = Task.Run(() => RunAsync("clean", leak: false), Cancel);
        var reports = await Task.WhenAll(leaking, clean);
        never.SetResult();

        Assert.Equal("leaking", Scopes.Single(reports[0]).ScopeName);
        Assert.Equal("CleanPatternTests.AwaitAsync", reports[0].Leaks[0].Method);
        Scopes.Clean(reports[1]);
    }

    private static async Task AwaitAsync(Task never) => await never;

    [Fact(Timeout = TestTimeout)]
    public async Task Awaiting_the_end_of_the_scope_is_not_a_leak()
    {
        // The test method's own box is created at its first await, inside the scope; it waits for EndAsync.
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("self", Scopes.Options());
        _ = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        Assert.Equal("CleanPatternTests.AwaitAsync", Scopes.Single(report).Method);
    }
}
