using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Analysis;

/// <summary>
/// A scope can end inside code it started: a test framework ends a test on whatever stack the test resumed on, and a
/// test can resume inside a continuation it created. That code is running the check, not left behind.
/// </summary>
public class RunningHereTests
{
    private const int TestTimeout = 30_000;

    [Fact(Timeout = TestTimeout)]
    public async Task Scope_ended_inside_its_own_running_continuation_is_clean_through_the_grace_period()
    {
        var gate = new TaskCompletionSource();
        var ending = EndsInContinuationOf(gate.Task, nameof(Scope_ended_inside_its_own_running_continuation_is_clean_through_the_grace_period));
        _ = LeakyAsync(); // left behind on purpose: keeps the scope waiting its grace period

        gate.SetResult(); // runs the continuation here, which ends the scope on this stack
        await ending.Continuation.WaitAsync(TestContext.Current.CancellationToken);

        Never.TrySetResult();
        var leak = Scopes.Single(ending.Report!);
        Assert.Equal("RunningHereTests.LeakyAsync", leak.Method);
        Assert.True(ending.Report!.Waited >= Scopes.ShortGrace * 0.9, $"the check did not wait the grace period: {ending.Report.Waited}");
    }

    // The continuation that ends the scope runs first among those of one task; the work below waits on that same task,
    // and resumes only when the check returns and the runtime runs the next continuation in the list.
    [Theory(Timeout = TestTimeout)]
    [InlineData("await")]
    [InlineData("WaitAsync")]
    public async Task Work_resuming_from_the_task_whose_continuation_ends_the_scope_is_not_reported(string how)
    {
        using var cancel = new CancellationTokenSource();
        var gate = new TaskCompletionSource();
        var ending = EndsInContinuationOf(gate.Task, nameof(Work_resuming_from_the_task_whose_continuation_ends_the_scope_is_not_reported));
        var waiter = how == "await" ? AwaitAsync(gate.Task) : WaitAsync(gate.Task, cancel.Token);

        gate.SetResult();
        await ending.Continuation.WaitAsync(TestContext.Current.CancellationToken);
        await waiter.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(ending.Report!.IsClean, ending.Report.ToString());
        Assert.True(ending.Report.Waited < Scopes.ShortGrace, $"the check waited {ending.Report.Waited} for work it was itself holding up");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_waiting_on_another_task_while_the_scope_ends_in_a_continuation_is_reported()
    {
        using var cancel = new CancellationTokenSource();
        var gate = new TaskCompletionSource();
        var never = new TaskCompletionSource();
        var ending = EndsInContinuationOf(gate.Task, nameof(Work_waiting_on_another_task_while_the_scope_ends_in_a_continuation_is_reported));
        var waiter = WaitAsync(never.Task, cancel.Token);

        gate.SetResult();
        await ending.Continuation.WaitAsync(TestContext.Current.CancellationToken);
        await cancel.CancelAsync();

        var leak = Scopes.Single(ending.Report!);
        Assert.Equal("RunningHereTests.WaitAsync", leak.Method);
        await Assert.ThrowsAsync<TaskCanceledException>(() => waiter);
    }

    /// <summary>
    /// Begins a scope that ends inside a continuation of <paramref name="task"/>, run synchronously by whatever
    /// completes it: the first continuation in the task's list.
    /// </summary>
    private static Ending EndsInContinuationOf(Task task, string name)
    {
        var scope = LeakScope.Begin(name, Scopes.Options());
        var ending = new Ending();
        ending.Continuation = task.ContinueWith(
            _ => ending.Report = scope.EndAsync().AsTask().GetAwaiter().GetResult(),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return ending;
    }

    private sealed class Ending
    {
        public Task Continuation { get; set; } = Task.CompletedTask;

        public LeakReport? Report { get; set; }
    }

    private static async Task AwaitAsync(Task task) => await task;

    private static async Task WaitAsync(Task task, CancellationToken cancellation) => await task.WaitAsync(cancellation);

    [Fact(Timeout = TestTimeout)]
    public async Task Running_work_of_the_scope_on_another_thread_is_reported_as_running()
    {
        using var release = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        var report = await Scopes.CheckAsync("running elsewhere", async () =>
        {
            _ = Task.Factory.StartNew(
                () =>
                {
                    started.Set();
                    release.Wait(TestContext.Current.CancellationToken);
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            started.Wait(TestContext.Current.CancellationToken);
        });

        release.Set();
        var leak = Scopes.Single(report);
        Assert.True(leak.IsRunning);
        Assert.Contains("delegate task, running", report.ToString());
    }

    private static readonly TaskCompletionSource Never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static async Task LeakyAsync() => await Never.Task;
}
