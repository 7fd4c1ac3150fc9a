using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;

namespace NoLeaks.Heap.Tests;

/// <summary>An unfinished async method that the GC collects never runs its finally blocks: reported as abandoned.</summary>
[Collection(nameof(AbandonedMethodTests))]
[CollectionDefinition(nameof(AbandonedMethodTests), DisableParallelization = true)]
public class AbandonedMethodTests
{
    private static int s_finallyRuns;

    [Fact(Timeout = 30_000)]
    public async Task Method_collected_while_suspended_is_reported_as_abandoned()
    {
        var report = await Scopes.CheckAsync("abandoned", async () => StartAndDrop());

        Assert.Equal(0, s_finallyRuns);
        var leak = report.Leaks.Single(l => l.Method == "AbandonedMethodTests.HoldsLockAsync");
        Assert.Equal(LeakKind.AbandonedAsyncMethod, leak.Kind);
        Assert.Equal(SourceLine.Of("abandoned-await"), leak.AwaitSite!.Line);
    }

    [Fact(Timeout = 30_000)]
    public async Task Work_an_ended_scope_left_behind_and_collected_later_is_not_the_next_scopes()
    {
        // The first scope leaks a method awaiting a completion source that only this holder keeps alive.
        var holder = new StrongBox<TaskCompletionSource?>(new TaskCompletionSource());
        var first = await Scopes.CheckAsync("leaves it behind", async () => StartWaiting(holder.Value!.Task));
        Assert.Contains(first.Leaks, l => l.Method == "AbandonedMethodTests.WaitsAsync" && l.Kind == LeakKind.AsyncMethod);

        // While the second scope is the only one open, the first one's method becomes garbage and is collected.
        var second = await Scopes.CheckAsync("open when it is collected", async () => holder.Value = null);

        Assert.DoesNotContain(second.Leaks, l => l.Method == "AbandonedMethodTests.WaitsAsync");
        Assert.True(second.IsClean, second.ToString());
    }

    [Fact(Timeout = 30_000)]
    public async Task Work_that_code_outside_every_scope_left_behind_while_a_scope_was_open_is_not_that_scopes()
    {
        var cancel = TestContext.Current.CancellationToken;
        var scope = LeakScope.Begin("open while others run", Scopes.Options(TimeSpan.FromSeconds(20)));
        var own = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ownWork = WaitsAsync(own.Task);

        // Code that no scope covers (a test without the attribute, in parallel) starts a method on a thread of its own.
        var holder = new StrongBox<TaskCompletionSource?>(new TaskCompletionSource());
        var outside = new Thread(() => StartWaitingOutside(holder.Value!.Task));
        using (ExecutionContext.SuppressFlow())
        {
            outside.Start(); // the thread's context is captured here: without the scope
        }

        outside.Join();

        // The scope's first check (inside EndAsync) sees that method pending and not the scope's; then it becomes
        // garbage and is collected while the scope waits out its own work.
        var ending = scope.EndAsync(cancellationToken: cancel);
        holder.Value = null;
        own.SetResult();
        await ownWork.WaitAsync(cancel);
        var report = await ending;

        Assert.DoesNotContain(report.Leaks, l => l.Method == "AbandonedMethodTests.WaitsOutsideAsync");
        Assert.True(report.IsClean, report.ToString());
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartWaitingOutside(Task task) => _ = WaitsOutsideAsync(task);

    private static async Task WaitsOutsideAsync(Task task) => await task;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartWaiting(Task task) => _ = WaitsAsync(task);

    private static async Task WaitsAsync(Task task) => await task;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartAndDrop() => _ = HoldsLockAsync(new TaskCompletionSource().Task);

    private static async Task HoldsLockAsync(Task never)
    {
        try
        {
            await never; // @abandoned-await
        }
        finally
        {
            Interlocked.Increment(ref s_finallyRuns);
        }
    }
}
