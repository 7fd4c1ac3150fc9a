using NoLeaks.Analysis;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

/// <summary>The engine's own failures: each test is a bug found by the fuzz harness or in a real suite, named after what broke.</summary>
public class LeakEngineTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task AwaitAsync(Task never) => await never;

    [Fact(Timeout = TestTimeout)]
    public async Task Ending_with_a_token_already_cancelled_reports_the_leak_instead_of_failing_the_check()
    {
        // The grace period's cancellation callback ran at once, inside its own start, and read the wait it belonged
        // to before it was assigned: a NullReferenceException, and the check reported nothing.
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var scope = LeakScope.Begin("cancelled before the end", Scopes.Options(NoLeaksOptions.MaxGracePeriod));
        _ = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: cancelled.Token).AsTask().WaitAsync(Cancel);
        never.SetResult();

        Assert.Equal("LeakEngineTests.AwaitAsync", Scopes.Single(report).Method);
        Assert.Contains("cut short", Assert.Single(report.Warnings));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Ending_with_a_token_already_cancelled_does_not_report_the_caller_running_the_end()
    {
        // Found by the fuzz harness: the final check ran at once on the caller's thread, where the caller's own box
        // (created in the scope, at its first await) is running, and without the list of running frames the first
        // check uses: the caller was reported as leaked.
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var report = await CallerInTheScopeAsync(never.Task, cancelled.Token).WaitAsync(Cancel);
        never.SetResult();

        Assert.Equal("LeakEngineTests.AwaitAsync", Scopes.Single(report).Method);
    }

    private static async Task<LeakReport> CallerInTheScopeAsync(Task never, CancellationToken cancelled)
    {
        var scope = LeakScope.Begin("caller in the scope", Scopes.Options(NoLeaksOptions.MaxGracePeriod));
        _ = AwaitAsync(never);
        await Task.Yield(); // the caller's box is created here, owned by the scope
        return await scope.EndAsync(cancellationToken: cancelled);
    }

    private sealed class SourceThatFailsInsideTheRuntime : IPendingOperationSource
    {
        public string Name => "failing source";

        public string? UnavailableReason => null;

        public void OnScopeBegun(LeakScope scope)
        {
        }

        public IReadOnlyList<PendingOperation> CollectPending(LeakScope scope, ICollection<string> warnings) =>
            [new Dictionary<int, PendingOperation>()[42]];

        public long PendingFingerprint(LeakScope scope) => 0;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_failed_check_says_where_the_exception_was_thrown()
    {
        // A NullReferenceException seen once in a real suite could not be located: the warning had no frame.
        var scope = LeakScope.Begin("failing", Scopes.Options(), new LeakEngine(new SourceThatFailsInsideTheRuntime()));

        var report = await scope.EndAsync(cancellationToken: Cancel);

        var warning = Assert.Single(report.Warnings);
        Assert.Contains("the leak check failed unexpectedly", warning);
        Assert.Contains("KeyNotFoundException", warning);
        Assert.Contains("(thrown at System.", warning);
        Assert.EndsWith($", in {typeof(SourceThatFailsInsideTheRuntime).FullName}.CollectPending)", warning);
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_failed_check_is_visible_and_fails_the_test_only_when_asked(bool failOnCheckError)
    {
        var options = Scopes.Options();
        options.FailOnCheckError = failOnCheckError;
        var scope = LeakScope.Begin("not checked", options, new LeakEngine(new SourceThatFailsInsideTheRuntime()));

        var report = await scope.EndAsync(cancellationToken: Cancel);

        Assert.True(report.IsClean);
        Assert.StartsWith("the leak check failed unexpectedly: KeyNotFoundException", report.CheckError);
        Assert.Equal(failOnCheckError, report.ShouldFail);
        var text = report.ToString();
        Assert.StartsWith("NoLeaks: not checked was not checked for leaked async operations.", text);
        Assert.Contains(failOnCheckError ? "This fails the test because NOLEAKS_STRICT=1" : "Set NOLEAKS_STRICT=1", text);
        if (failOnCheckError)
        {
            Assert.Contains("KeyNotFoundException", Assert.Throws<TaskLeakException>(report.ThrowIfFailed).Message);
        }
        else
        {
            report.ThrowIfFailed();
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_failed_check_under_the_warn_action_never_fails_the_test()
    {
        var options = Scopes.Options();
        options.FailOnCheckError = true;
        options.Action = LeakAction.Warn;
        var scope = LeakScope.Begin("warned", options, new LeakEngine(new SourceThatFailsInsideTheRuntime()));

        var report = await scope.EndAsync(cancellationToken: Cancel);

        Assert.NotNull(report.CheckError);
        Assert.False(report.ShouldFail);
    }

    /// <summary>Reports one running delegate, then hangs in every later look until released.</summary>
    private sealed class SourceThatHangsInARecheck(ManualResetEventSlim release) : IPendingOperationSource
    {
        private int _looks;

        public string Name => "hanging source";

        public string? UnavailableReason => null;

        public void OnScopeBegun(LeakScope scope)
        {
        }

        public IReadOnlyList<PendingOperation> CollectPending(LeakScope scope, ICollection<string> warnings)
        {
            if (Interlocked.Increment(ref _looks) > 1)
            {
                release.Wait();
            }

            return
            [
                new PendingOperation
                {
                    Keys = [new object()],
                    Kind = OperationKind.DelegateTask,
                    DelegateMethod = typeof(LeakEngineTests).GetMethod(nameof(AwaitAsync), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static),
                    WaitingOn = "nothing: its delegate is still running",
                    ScopeName = scope.Name,
                },
            ];
        }

        public long PendingFingerprint(LeakScope scope) => Interlocked.Increment(ref _looks);
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_check_that_hangs_lets_its_test_go_after_its_bound(bool failOnCheckError)
    {
        using var release = new ManualResetEventSlim();
        var engine = new LeakEngine(new SourceThatHangsInARecheck(release)) { WatchdogMargin = TimeSpan.FromMilliseconds(300) };
        var options = Scopes.Options(TimeSpan.FromMilliseconds(100));
        options.FailOnCheckError = failOnCheckError;
        var scope = LeakScope.Begin("hung check", options, engine);
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var report = await scope.EndAsync(cancellationToken: Cancel).AsTask().WaitAsync(TimeSpan.FromSeconds(20), Cancel);

            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(350), TimeSpan.FromSeconds(15));
            Assert.Contains("TimeoutException: the check did not finish within", report.CheckError);
            Assert.Contains("the test was let go", Assert.Single(report.Warnings));
            Assert.Equal(failOnCheckError, report.ShouldFail);
            Assert.Same(report, await scope.EndAsync(cancellationToken: Cancel));
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public void Work_queued_for_the_pool_while_the_pool_has_a_backlog_is_said_to_have_waited_for_a_starved_pool()
    {
        // Seen on a suite whose tests block pool threads forever: a continuation queued for a pool thread (a cancelled
        // lock's registration cleanup) did not get one within the grace period. The report says why.
        var queued = Leak(LeakKind.Continuation, NoLeaks.Tracking.TaskInspector.QueuedForPoolThread, running: false);

        var warning = LeakEngine.StarvedPoolWarning([queued], pendingWorkItems: 12, threads: 9);

        Assert.NotNull(warning);
        Assert.StartsWith("1 of the operations above waited for a thread of the thread pool, which had 12 work items queued and 9 threads", warning);
    }

    [Fact]
    public void Pool_without_a_backlog_or_work_that_is_not_queued_for_it_gets_no_starvation_warning()
    {
        var queued = Leak(LeakKind.DelegateTask, NoLeaks.Tracking.TaskInspector.QueuedForPoolThread, running: false);
        var suspended = Leak(LeakKind.AsyncMethod, "TaskCompletionSource.Task", running: false);
        var running = Leak(LeakKind.DelegateTask, "nothing: its delegate is still running", running: true);

        Assert.Null(LeakEngine.StarvedPoolWarning([queued], pendingWorkItems: 0, threads: 4));
        Assert.Null(LeakEngine.StarvedPoolWarning([suspended, running], pendingWorkItems: 50, threads: 4));
    }

    [Fact]
    public void Only_work_queued_for_a_pool_thread_makes_the_check_wait_on_for_a_starved_pool()
    {
        var queued = Leak(LeakKind.Continuation, NoLeaks.Tracking.TaskInspector.QueuedForPoolThread, running: false);
        var suspended = Leak(LeakKind.AsyncMethod, "TaskCompletionSource.Task", running: false);
        var running = Leak(LeakKind.DelegateTask, NoLeaks.Tracking.TaskInspector.QueuedForPoolThread, running: true);

        Assert.True(LeakEngine.OnlyWaitsForPoolThreads([queued, queued]));
        Assert.False(LeakEngine.OnlyWaitsForPoolThreads([]));
        Assert.False(LeakEngine.OnlyWaitsForPoolThreads([queued, suspended]));
        Assert.False(LeakEngine.OnlyWaitsForPoolThreads([queued, running]));
    }

    private static TaskLeak Leak(LeakKind kind, string waitingOn, bool running) =>
        new(kind, new AsyncFrame("Shop.Lock (lambda)", "Shop.Lock (lambda)", null), [], waitingOn, "test T", null, "T", null, 1) { IsRunning = running };
}
