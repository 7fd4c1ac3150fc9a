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
    public void Only_late_work_makes_the_check_wait_on_past_its_grace_period()
    {
        var queued = Leak(LeakKind.Continuation, NoLeaks.Tracking.TaskInspector.QueuedForPoolThread, running: false);
        var suspended = Leak(LeakKind.AsyncMethod, "TaskCompletionSource.Task", running: false);
        var running = Leak(LeakKind.DelegateTask, NoLeaks.Tracking.TaskInspector.QueuedForPoolThread, running: true);
        const long now = 1_000_000;
        var lateTimer = Leak(LeakKind.AsyncMethod, "Task.Delay(…)", running: false, timerDue: now - 1);
        var dueNow = Leak(LeakKind.AsyncMethod, "Task.Delay(…)", running: false, timerDue: now);
        var notDueYet = Leak(LeakKind.AsyncMethod, "Task.Delay(…)", running: false, timerDue: now + 1);
        var dueUnknown = Leak(LeakKind.AsyncMethod, "Task.Delay(…)", running: false);

        Assert.True(LeakEngine.OnlyLateWork([queued, queued], pendingWorkItems: 3, now));
        Assert.True(LeakEngine.OnlyLateWork([lateTimer, dueNow], pendingWorkItems: 0, now));
        Assert.True(LeakEngine.OnlyLateWork([lateTimer, queued], pendingWorkItems: 3, now));
        Assert.False(LeakEngine.OnlyLateWork([], pendingWorkItems: 3, now));
        Assert.False(LeakEngine.OnlyLateWork([queued], pendingWorkItems: 0, now));
        Assert.False(LeakEngine.OnlyLateWork([queued, suspended], pendingWorkItems: 3, now));
        Assert.False(LeakEngine.OnlyLateWork([queued, running], pendingWorkItems: 3, now));

        // A loop's next delay, not due yet, is the loop going on: reported.
        Assert.False(LeakEngine.OnlyLateWork([lateTimer, notDueYet], pendingWorkItems: 3, now));
        Assert.False(LeakEngine.OnlyLateWork([dueUnknown], pendingWorkItems: 3, now));
    }

    [Fact]
    public void Work_waiting_on_a_timer_that_was_due_and_did_not_fire_is_said_to_be_late()
    {
        var second = System.Diagnostics.Stopwatch.Frequency;
        var now = 100 * second;
        var late = Leak(LeakKind.AsyncMethod, "Task.Delay(…)", running: false, timerDue: now - (2 * second));
        var notDue = Leak(LeakKind.AsyncMethod, "Task.Delay(…)", running: false, timerDue: now + second);
        var justDue = Leak(LeakKind.AsyncMethod, "Task.Delay(…)", running: false, timerDue: now - (second / 100));

        var warning = LeakEngine.LateTimerWarning([late, notDue], now);

        Assert.Equal(
            "1 of the operations above waited on a Task.Delay whose timer was due (the earliest 2.0 s before the check) and had not fired: the machine or its thread pool was too busy to fire it on time, so that work may not have had its chance to finish.",
            warning);
        Assert.Null(LeakEngine.LateTimerWarning([notDue], now));

        // 10 ms late is how a timer fires on a machine that is not busy: not worth a line.
        Assert.Null(LeakEngine.LateTimerWarning([justDue], now));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_waiting_on_a_timer_due_before_the_grace_period_ended_is_waited_for_until_it_fires()
    {
        // Seen in a loaded CI run: a fire-and-forget Task.Delay(10 ms) still pending after a grace period of 1 s, its
        // timer not fired by a machine too busy to fire it. The timer here is read 1 s ahead of the clock, so that the
        // 1.5 s delay looks due (at 0.5 s) when the grace period of 1 s ends, as a late timer does; it fires at 1.5 s.
        var ahead = new NoLeaksOptions
        {
            GracePeriod = TimeSpan.FromSeconds(1), Source = Scopes.Source, DetectStuckWork = false, TimerClockAhead = TimeSpan.FromSeconds(1),
        };
        var scope = LeakScope.Begin("late timer", ahead);
        var delayed = DelayAsync(TimeSpan.FromSeconds(1.5));
        var report = await scope.EndAsync(cancellationToken: Cancel);

        Scopes.Clean(report);
        Assert.True(delayed.IsCompleted);
        Assert.Contains(report.Warnings, warning => warning.Contains("was due when the grace period ended but had not fired", StringComparison.Ordinal));
        Assert.InRange(report.Waited, TimeSpan.FromSeconds(1.4), TimeSpan.FromSeconds(10));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_waiting_on_a_timer_not_due_when_the_grace_period_ends_is_reported()
    {
        // The same work read on the real clock: its timer is due after the grace period, so it is left behind.
        var scope = LeakScope.Begin("timer not due", new NoLeaksOptions { GracePeriod = TimeSpan.FromSeconds(1), Source = Scopes.Source, DetectStuckWork = false });
        var delayed = DelayAsync(TimeSpan.FromSeconds(1.5));
        var report = await scope.EndAsync(cancellationToken: Cancel);
        await delayed.WaitAsync(Cancel);

        var leak = Scopes.Single(report);
        Assert.Equal("LeakEngineTests.DelayAsync", leak.Method);
        Assert.Equal("Task.Delay(…)", leak.WaitingOn);
        Assert.DoesNotContain(report.Warnings, warning => warning.Contains("had not fired", StringComparison.Ordinal));
    }

    private static async Task DelayAsync(TimeSpan delay) => await Task.Delay(delay);

    private static TaskLeak Leak(LeakKind kind, string waitingOn, bool running, long? timerDue = null) =>
        new(kind, new AsyncFrame("Shop.Lock (lambda)", "Shop.Lock (lambda)", null), [], waitingOn, "test T", null, "T", null, 1) { IsRunning = running, TimerDue = timerDue };
}
