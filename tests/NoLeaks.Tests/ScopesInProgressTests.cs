using NoLeaks.Tests.Analysis;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

/// <summary>
/// The count of scopes in progress that decides whether thread stacks are read unasked: begun and not yet reported or
/// disposed. In the collection that runs alone, so that no other test's scope is counted.
/// </summary>
[Collection(nameof(ThreadStacksRun))]
public class ScopesInProgressTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = 30_000)]
    public async Task A_scope_is_in_progress_from_its_beginning_until_its_report_through_its_grace_period()
    {
        var before = LeakScope.InProgress;
        var never = new TaskCompletionSource();
        var scope = LeakScope.Begin("in progress", Scopes.Options(TimeSpan.FromMilliseconds(200)));
        _ = WaitAsync(never.Task);
        Assert.Equal(before + 1, LeakScope.InProgress);

        var ending = scope.EndAsync(cancellationToken: Cancel);
        Assert.False(ending.IsCompleted);
        Assert.Equal(before + 1, LeakScope.InProgress); // waiting out its grace period
        var report = await ending;
        never.SetResult();

        Assert.Single(report.Leaks);
        Assert.Equal(before, LeakScope.InProgress);
    }

    [Fact(Timeout = 30_000)]
    public async Task Disposed_scopes_and_scopes_left_open_inside_an_ended_one_are_no_longer_in_progress()
    {
        var before = LeakScope.InProgress;
        LeakScope.Begin("disposed", Scopes.Options()).Dispose();
        Assert.Equal(before, LeakScope.InProgress);

        var outer = LeakScope.Begin("outer", Scopes.Options(TimeSpan.Zero));
        _ = LeakScope.Begin("left open", Scopes.Options());
        Assert.Equal(before + 2, LeakScope.InProgress);
        await outer.EndAsync(cancellationToken: Cancel);
        Assert.Equal(before, LeakScope.InProgress);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_scope_that_receives_work_handed_over_is_not_counted_so_another_test_beside_it_is()
    {
        // The owner's check (a fixture's cleanup) reports through a detached scope: "others in progress" is then every
        // counted scope, not every counted scope but one.
        var before = LeakScope.InProgress;
        var detached = LeakScope.Detached("ClassFixture", Scopes.Options(TimeSpan.Zero));
        Assert.False(detached.IsCounted);
        Assert.Equal(before, LeakScope.InProgress);

        var begun = LeakScope.Begin("counted", Scopes.Options(TimeSpan.Zero));
        Assert.True(begun.IsCounted);
        await begun.EndAsync(cancellationToken: Cancel);
        Assert.False(begun.IsCounted);
        await detached.EndAsync(cancellationToken: Cancel);
        Assert.Equal(before, LeakScope.InProgress);
    }

    private static async Task WaitAsync(Task task) => await task;
}
