using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// Async methods built with <see cref="PoolingAsyncValueTaskMethodBuilder"/> live in pooled boxes that are not tasks:
/// only the heap source sees them (runtime task tracking records tasks). A suspended one is a leak; a finished one,
/// whether its result was consumed (box back in the pool) or not (box still marked completed), is not.
/// </summary>
public class PoolingValueTaskTests
{
    private const int TestTimeout = 60_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static NoLeaksOptions HeapNoGrace() => new() { Source = LeakSource.Heap, GracePeriod = TimeSpan.Zero };

    [Fact(Timeout = TestTimeout)]
    public async Task Pooled_method_suspended_forever_is_reported_at_its_await()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin(nameof(Pooled_method_suspended_forever_is_reported_at_its_await), HeapNoGrace());
        _ = WaitPooledAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);

        never.SetResult();
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.AsyncMethod, leak.Kind);
        Assert.Equal("PoolingValueTaskTests.WaitPooledAsync", leak.Method);
        Assert.Equal(SourceLine.Of("pooled-await"), leak.AwaitSite!.Line);
        Assert.Equal("PoolingValueTaskTests.cs", leak.AwaitSite.FileName);
        Assert.Equal(nameof(Pooled_method_suspended_forever_is_reported_at_its_await), leak.ScopeName);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pooled_method_awaited_to_completion_before_the_scope_ends_is_clean()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("pooled, awaited", HeapNoGrace());
        var pending = WaitPooledAsync(gate.Task);
        Assert.False(pending.IsCompleted);
        gate.SetResult();
        await pending; // consumed: the box goes back to the pool with its state machine cleared

        var report = await scope.EndAsync(cancellationToken: Cancel);
        Assert.Empty(report.Warnings);
        Scopes.Clean(report);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pooled_method_completed_but_never_awaited_is_clean()
    {
        // Continuations run inline: SetResult returns after the method has finished, its box marked completed but
        // its result never consumed (the box is not returned to the pool).
        var gate = new TaskCompletionSource();
        var scope = LeakScope.Begin("pooled, not awaited", HeapNoGrace());
        var pending = WaitPooledAsync(gate.Task);
        Assert.False(pending.IsCompleted);
        gate.SetResult();
        Assert.True(pending.IsCompletedSuccessfully);

        var report = await scope.EndAsync(cancellationToken: Cancel);
        await pending;
        Assert.Empty(report.Warnings);
        Scopes.Clean(report);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WaitPooledAsync(Task gate)
    {
        await gate; // @pooled-await
    }
}
