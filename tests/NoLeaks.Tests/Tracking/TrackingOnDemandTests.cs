using System.Reflection;
using NoLeaks.Tests.Support;
using NoLeaks.Tracking;

namespace NoLeaks.Tests.Tracking;

[CollectionDefinition(nameof(TrackingSwitch), DisableParallelization = true)]
public sealed class TrackingSwitch;

/// <summary>
/// The runtime's task tracking is on only while some scope needs it. These tests read the runtime's switch, which is
/// process-wide, so they run alone (after the parallel tests), when no other scope is open.
/// </summary>
[Collection(nameof(TrackingSwitch))]
public class TrackingOnDemandTests
{
    private const int TestTimeout = 30_000;

    private static readonly FieldInfo RuntimeSwitch =
        typeof(Task).GetField("s_asyncDebuggingEnabled", BindingFlags.Static | BindingFlags.NonPublic)!;

    private static bool TrackingIsOn => (bool)RuntimeSwitch.GetValue(null)!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = TestTimeout)]
    public async Task Tracking_is_on_while_a_scope_is_open_and_off_when_none_is()
    {
        await LeakScope.Begin("start the engine", Scopes.Options(TimeSpan.Zero)).EndAsync(cancellationToken: Cancel);
        Assert.True(RuntimeTaskTracking.IsOnDemand);
        Assert.Equal(0, RuntimeTaskTracking.Users);
        Assert.False(TrackingIsOn);

        var outer = LeakScope.Begin("outer", Scopes.Options(TimeSpan.Zero));
        var inner = LeakScope.Begin("inner", Scopes.Options(TimeSpan.Zero));
        Assert.True(TrackingIsOn);
        Scopes.Clean(await inner.EndAsync(cancellationToken: Cancel));
        Assert.True(TrackingIsOn);
        Scopes.Clean(await outer.EndAsync(cancellationToken: Cancel));
        Assert.False(TrackingIsOn);

        LeakScope.Begin("disposed", Scopes.Options(TimeSpan.Zero)).Dispose();
        Assert.False(TrackingIsOn);
        Assert.Equal(0, RuntimeTaskTracking.Users);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_a_test_starts_during_its_grace_period_is_still_seen()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("late work", Scopes.Options(TimeSpan.FromMilliseconds(500)));
        _ = Task.Run(async () =>
        {
            await gate.Task;
            _ = WaitAsync(never.Task);
        }, Cancel);

        // The scope has ended (its grace period runs) before the leaking method even exists.
        var ending = scope.EndAsync(cancellationToken: Cancel);
        Assert.False(ending.IsCompleted);
        gate.SetResult();
        var report = await ending;
        never.SetResult();

        Assert.Equal("TrackingOnDemandTests.WaitAsync", Scopes.Single(report).Method);
        Assert.Equal(0, RuntimeTaskTracking.Users);
        Assert.False(TrackingIsOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_that_completes_while_tracking_is_off_is_forgotten()
    {
        // Tasks that complete while tracking is off stay in the runtime's dictionary (the runtime only removes them
        // while tracking is on); the end of a later scope sweeps them out, with their records.
        Assert.True(RuntimeTaskTracking.Users == 0, "a scope of another test is still open: tracking cannot go off");
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var leaked = new List<Task>();
        var scope = LeakScope.Begin("leaks 1,000", Scopes.Options(TimeSpan.Zero));
        for (var i = 0; i < 1_000; i++)
        {
            leaked.Add(WaitAsync(never.Task));
        }

        var report = await scope.EndAsync(cancellationToken: Cancel);
        Assert.Equal(1_000, Assert.Single(report.Leaks).Count);
        Assert.False(TrackingIsOn);

        never.SetResult();
        await Task.WhenAll(leaked);
        var source = (TrackingSource)LeakEngine.Tracking.Source;
        Assert.Same(leaked[0], source.Tracking.Find(leaked[0].Id));
        Assert.True(source.HasRecord(leaked[0].Id));

        // Sweeps wait for the dictionary to double since the last one (an earlier test may have left it large).
        source.Tracking.SweepSoon();
        await LeakScope.Begin("sweeps", Scopes.Options(TimeSpan.Zero)).EndAsync(cancellationToken: Cancel);

        Assert.All(leaked, task => Assert.Null(source.Tracking.Find(task.Id)));
        Assert.All(leaked, task => Assert.False(source.HasRecord(task.Id)));
    }

    private static async Task WaitAsync(Task task) => await task;
}
