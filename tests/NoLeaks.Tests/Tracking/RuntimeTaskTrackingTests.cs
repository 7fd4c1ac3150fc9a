using NoLeaks.Tracking;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// The runtime internals NoLeaks reads. When one of these fails, the runtime changed under us: the engine then
/// degrades to a warning, and this is the test that says so loudly.
/// </summary>
public class RuntimeTaskTrackingTests
{
    [Fact]
    public void This_runtime_has_the_task_tracking_fields()
    {
        var tracking = RuntimeTaskTracking.Probe();

        Assert.True(tracking.IsAvailable, tracking.UnavailableReason);
        Assert.True(tracking.Enable());
    }

    [Fact]
    public void This_runtime_has_the_task_fields_the_inspector_reads()
    {
        Assert.Null(TaskInspector.MissingInternals);
    }

    [Fact(Timeout = 10_000)]
    public async Task This_runtime_raises_creation_events_and_records_pending_tasks()
    {
        var tracking = RuntimeTaskTracking.Probe();
        var source = new TrackingSource(tracking, useHook: false);
        var engine = new LeakEngine(source);
        var scope = LeakScope.Begin("probe", new NoLeaksOptions { GracePeriod = TimeSpan.Zero }, engine);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.Null(source.CreationEventsUnavailable);
        Assert.Same(pending, tracking.Find(pending.Id));
        Assert.Single(report.Leaks);
        never.SetResult();
        await pending;
        Assert.Null(tracking.Find(pending.Id));
    }

    [Fact(Timeout = 10_000)]
    public async Task The_shared_engine_hooks_the_runtimes_active_task_dictionary()
    {
        // Starting any scope starts the shared engine; on .NET 10 it must get the cheap hook, not the event listener.
        await LeakScope.Begin("hook", new NoLeaksOptions { GracePeriod = TimeSpan.Zero }).EndAsync(cancellationToken: TestContext.Current.CancellationToken);

        var source = (TrackingSource)LeakEngine.Tracking.Source;
        Assert.Null(Environment.GetEnvironmentVariable(TrackingSource.DictionaryHookVariable));
        Assert.Equal("the runtime's active-task dictionary", source.CreationHook);
        Assert.Null(source.CreationEventsUnavailable);
    }

    [Fact(Timeout = 10_000)]
    public async Task A_second_source_falls_back_to_the_listener_when_the_dictionary_exists()
    {
        // Only one dictionary can be installed; whichever source comes second must still see new work.
        await LeakScope.Begin("first", new NoLeaksOptions { GracePeriod = TimeSpan.Zero }).EndAsync(cancellationToken: TestContext.Current.CancellationToken);
        var source = new TrackingSource(RuntimeTaskTracking.Probe(), useHook: true);
        var engine = new LeakEngine(source);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("hook", new NoLeaksOptions { GracePeriod = TimeSpan.Zero }, engine);
        var pending = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);
        never.SetResult();
        await pending;

        Assert.Equal("the TplEventSource listener", source.CreationHook);
        Assert.Single(report.Leaks);
    }

    [Fact]
    public void Work_the_runtime_does_not_know_yet_is_young_not_finished()
    {
        // Regression: pruning raced creation — the creation hook records work just before the runtime adds it to its
        // dictionary, and a prune in between forgot it (a leak of 10,000 was reported as 9,999 in parallel runs).
        var now = Environment.TickCount64;
        const long second = 1000;

        Assert.False(TrackingSource.IsGone(task: null, createdTicks: now, now));
        Assert.True(TrackingSource.IsGone(task: null, createdTicks: now - (2 * second), now));
        Assert.True(TrackingSource.IsGone(Task.CompletedTask, createdTicks: now, now));
        Assert.False(TrackingSource.IsGone(new TaskCompletionSource().Task, createdTicks: now - (2 * second), now));
    }

    [Fact]
    public void A_runtime_without_the_fields_is_unavailable_with_a_reason()
    {
        var missingFlag = RuntimeTaskTracking.Probe(typeof(Task), "s_gone", "s_currentActiveTasks");
        var wrongType = RuntimeTaskTracking.Probe(typeof(Task), "s_asyncDebuggingEnabled", "s_asyncDebuggingEnabled");

        Assert.False(missingFlag.Enable());
        Assert.Contains("s_gone", missingFlag.UnavailableReason);
        Assert.Contains("Dictionary<int, Task>", wrongType.UnavailableReason);
        Assert.Null(missingFlag.Find(1));
        Assert.Empty(missingFlag.Snapshot());
    }

    [Fact(Timeout = 10_000)]
    public async Task Without_creation_events_ownership_falls_back_to_the_captured_context_with_a_warning()
    {
        var engine = new LeakEngine(new TrackingSource(RuntimeTaskTracking.Probe(), useCreationEvents: false, useHook: false));
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var before = AwaitAsync(never.Task);
        var scope = LeakScope.Begin("fallback", new NoLeaksOptions { GracePeriod = TimeSpan.Zero }, engine);
        var leaked = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);
        never.SetResult();
        await Task.WhenAll(before, leaked);

        var leak = Assert.Single(report.Leaks);
        Assert.Equal("RuntimeTaskTrackingTests.AwaitAsync", leak.Method);
        Assert.Null(leak.Age);
        Assert.Contains("attributed to tests by its captured ExecutionContext", Assert.Single(report.Warnings));
    }

    private static async Task AwaitAsync(Task task) => await task;
}
