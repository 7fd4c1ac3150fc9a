using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;
using NoLeaks.Tracking;

namespace NoLeaks.Tests;

/// <summary>
/// Work that nothing in the process can reach any more can never resume: the test fails at once, without its grace
/// period. Work that something can still reach — a static, a timer, a local of another thread's running frame — is
/// never called stuck, and waits the grace period as before.
/// </summary>
[Collection(nameof(StuckWorkTests))]
[CollectionDefinition(nameof(StuckWorkTests), DisableParallelization = true)]
public class StuckWorkTests
{
    private const int TestTimeout = 60_000;

    /// <summary>Long enough that a report given without waiting it cannot be mistaken for one given after it.</summary>
    private static readonly TimeSpan LongGrace = TimeSpan.FromSeconds(30);

    private static class Holder
    {
        public static TaskCompletionSource? Kept;

        public static TaskScheduler? Scheduler;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Await_on_a_completion_source_nobody_holds_fails_at_once_as_never_resuming()
    {
        var report = await Scopes.CheckAsync("orphaned", async () => { StartOrphanedWait(); }, Options(LongGrace));

        var leak = Scopes.Single(report);
        Assert.Equal("StuckWorkTests.WaitOnOrphanAsync", leak.Method);
        Assert.Equal(StuckCheck.Verdict, leak.Verdict);
        Assert.True(report.Waited < LongGrace / 3, $"waited {report.Waited}: the grace period was not skipped\n{report}");
        Assert.Contains("can never resume", report.ToString());
        Assert.Contains("(nothing can ever resume it: reported at once, without waiting the grace period of 30.00 s)", report.ToString());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Unoptimized_code_s_orphaned_await_fails_at_once_as_never_resuming()
    {
        // As `dotnet test` builds by default (Debug): the state machine is a class, an object of the operation's besides
        // its task, which the collection frees with it. The leak was dropped: its task was gone from the runtime's record
        // after the collection, and it did not count as never resuming.
        var report = await Scopes.CheckAsync("orphaned, unoptimized", async () => { TestTargets.UnoptimizedWork.StartOrphanedWait(); }, Options(LongGrace));

        var leak = Scopes.Single(report);
        Assert.Equal("UnoptimizedWork.WaitOnOrphanAsync", leak.Method);
        Assert.Equal(StuckCheck.Verdict, leak.Verdict);
        Assert.True(report.Waited < LongGrace / 3, $"waited {report.Waited}: the grace period was not skipped\n{report}");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Unoptimized_code_s_await_on_a_kept_completion_source_is_reported_after_the_grace_period()
    {
        Holder.Kept = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var grace = TimeSpan.FromMilliseconds(600);
        Task? waiting = null;
        var report = await Scopes.CheckAsync("kept, unoptimized", async () => { waiting = TestTargets.UnoptimizedWork.AwaitAsync(Holder.Kept.Task); }, Options(grace));

        var leak = Scopes.Single(report);
        Assert.Equal("UnoptimizedWork.AwaitAsync", leak.Method);
        Assert.NotEqual(StuckCheck.Verdict, leak.Verdict);
        Holder.Kept.SetResult();
        await waiting!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    // In a frame of its own: nothing of the test's keeps the completion source.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartOrphanedWait() => _ = WaitOnOrphanAsync();

    private static async Task WaitOnOrphanAsync()
    {
        var nobodyElse = new TaskCompletionSource();
        await nobodyElse.Task;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Infinite_delay_without_a_token_fails_at_once()
    {
        // Task.Delay(Infinite) without a token has no timer: nothing can ever complete it.
        var report = await Scopes.CheckAsync("infinite delay", async () => { _ = DelayForeverAsync(); }, Options(LongGrace));

        var leak = Scopes.Single(report);
        Assert.Equal(StuckCheck.Verdict, leak.Verdict);
        Assert.True(report.Waited < LongGrace / 3, $"waited {report.Waited}\n{report}");
    }

    private static async Task DelayForeverAsync() => await Task.Delay(Timeout.Infinite);

    [Fact(Timeout = TestTimeout)]
    public async Task Completion_source_in_a_static_field_is_not_stuck_and_waits_the_grace_period()
    {
        Holder.Kept = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var grace = TimeSpan.FromMilliseconds(600);
        Task? waiting = null;
        var report = await Scopes.CheckAsync("kept", async () => { waiting = AwaitKeptAsync(); }, Options(grace));

        // Still reported after the grace period: the runtime's record of the work was given back after the check.
        var leak = Scopes.Single(report);
        Assert.NotEqual(StuckCheck.Verdict, leak.Verdict);
        Assert.True(report.Waited >= grace, $"waited {report.Waited}\n{report}");

        Holder.Kept.SetResult();
        await waiting!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    private static async Task AwaitKeptAsync() => await Holder.Kept!.Task;

    [Fact(Timeout = TestTimeout)]
    public async Task Completion_source_held_only_by_another_threads_running_frame_is_not_stuck()
    {
        // The wrong verdict this guards against: nothing on the heap holds the completion source, only a local of a
        // thread that is blocked and will complete it later.
        using var release = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        var box = new StrongBox<TaskCompletionSource?>(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        Task? waiting = null;
        var thread = new Thread(() => HoldThenComplete(box, holding, release)) { IsBackground = true };
        var grace = TimeSpan.FromMilliseconds(600);
        var report = await Scopes.CheckAsync("held by a thread", async () =>
        {
            waiting = AwaitAsync(box.Value!.Task);
            thread.Start();
            holding.Wait(TestContext.Current.CancellationToken);
        }, Options(grace));

        var leak = Scopes.Single(report);
        Assert.NotEqual(StuckCheck.Verdict, leak.Verdict);
        Assert.True(report.Waited >= grace, $"waited {report.Waited}\n{report}");

        // And it does resume, as the verdict allowed.
        release.Set();
        await waiting!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        thread.Join();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void HoldThenComplete(StrongBox<TaskCompletionSource?> box, ManualResetEventSlim holding, ManualResetEventSlim release)
    {
        var onlyHere = box.Value!;
        box.Value = null;
        holding.Set();
        release.Wait();
        onlyHere.SetResult();
    }

    private static async Task AwaitAsync(Task task) => await task;

    [Fact(Timeout = TestTimeout)]
    public async Task Pending_timer_is_not_stuck()
    {
        var grace = TimeSpan.FromMilliseconds(600);
        using var cancel = new CancellationTokenSource();
        Task? waiting = null;
        var report = await Scopes.CheckAsync("timer", async () => { waiting = DelayAnHourAsync(cancel.Token); }, Options(grace));

        Assert.NotEqual(StuckCheck.Verdict, Scopes.Single(report).Verdict);
        Assert.True(report.Waited >= grace, $"waited {report.Waited}\n{report}");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
    }

    private static async Task DelayAnHourAsync(CancellationToken token) => await Task.Delay(TimeSpan.FromHours(1), token);

    [Fact(Timeout = TestTimeout)]
    public async Task Switched_off_the_stuck_work_waits_the_grace_period()
    {
        var grace = TimeSpan.FromMilliseconds(600);
        var options = Options(grace);
        options.DetectStuckWork = false;
        var report = await Scopes.CheckAsync("switched off", async () => { StartOrphanedWait(); }, options);

        Assert.NotEqual(StuckCheck.Verdict, Scopes.Single(report).Verdict);
        Assert.True(report.Waited >= grace, $"waited {report.Waited}\n{report}");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Grace_period_shorter_than_a_collection_is_worth_is_waited_as_before()
    {
        var grace = TimeSpan.FromMilliseconds(200);
        var report = await Scopes.CheckAsync("short grace", async () => { StartOrphanedWait(); }, Options(grace));

        Assert.NotEqual(StuckCheck.Verdict, Scopes.Single(report).Verdict);
        Assert.True(report.Waited >= grace, $"waited {report.Waited}\n{report}");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Stuck_and_reachable_work_together_wait_the_grace_period_and_report_both()
    {
        Holder.Kept = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var grace = TimeSpan.FromMilliseconds(600);
        Task? kept = null;
        var report = await Scopes.CheckAsync("mixed", async () =>
        {
            StartOrphanedWait();
            kept = AwaitKeptAsync();
        }, Options(grace));

        Assert.True(report.Waited >= grace, $"waited {report.Waited}\n{report}");
        Assert.Equal(2, report.Leaks.Count);
        Assert.Contains(report.Leaks, leak => leak.Method == "StuckWorkTests.AwaitKeptAsync" && leak.Verdict != StuckCheck.Verdict);

        // Freed by the stuck check, so no later check could see it: its entry is carried into the final report, as old
        // as it is when the report is made (not as it was at the first check).
        var carried = Assert.Single(report.Leaks, leak => leak.Method == "StuckWorkTests.WaitOnOrphanAsync" && leak.Verdict == StuckCheck.Verdict);
        Assert.True(carried.Age >= grace, $"age {carried.Age}, waited {report.Waited}\n{report}");
        Holder.Kept.SetResult();
        await kept!.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Task_queued_to_a_scheduler_nothing_can_reach_never_ran_and_is_listed_not_counted()
    {
        // A context that ended with work still queued (a single-threaded context whose loop has returned) and a
        // tripwire on that work: nothing ran, nothing ever will.
        var report = await Scopes.CheckAsync("ended context", async () => { QueueToAnEndedContext(); }, Options(LongGrace));

        Assert.True(report.IsClean, report.ToString());
        Assert.True(report.Waited < LongGrace / 3, $"waited {report.Waited}\n{report}");
        var dormant = Assert.Single(report.DormantContinuations);
        Assert.Equal(LeakKind.DormantTask, dormant.Kind);
        Assert.Equal("its turn on the TaskScheduler ParkingScheduler (queued, not started)", dormant.WaitingOn);
        Assert.Contains("Not counted: 1 dormant task (queued to a TaskScheduler that nothing can reach any more", report.ToString());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Task_queued_to_a_scheduler_nothing_can_reach_counts_when_dormant_work_is_counted()
    {
        var options = Options(LongGrace);
        options.CountDormantContinuations = true;
        var report = await Scopes.CheckAsync("ended context, counted", async () => { QueueToAnEndedContext(); }, options);

        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.DelegateTask, leak.Kind);
        Assert.Equal(StuckCheck.Verdict, leak.Verdict);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Async_method_awaiting_a_task_queued_to_a_scheduler_nothing_can_reach_is_counted()
    {
        // The method is suspended forever: its code after the await (a finally, a lock's release) never runs.
        var report = await Scopes.CheckAsync("awaits ended context", async () => { AwaitAnEndedContext(); }, Options(LongGrace));

        var leak = Scopes.Single(report);
        Assert.Equal(StuckCheck.Verdict, leak.Verdict);
        Assert.Contains(leak.AwaitChain, frame => frame.Method == "StuckWorkTests.AwaitQueuedAsync");
        Assert.Empty(report.DormantContinuations);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Task_queued_to_a_scheduler_a_static_holds_is_counted_and_names_the_scheduler()
    {
        var scheduler = new ParkingScheduler();
        Holder.Scheduler = scheduler;
        var grace = TimeSpan.FromMilliseconds(600);
        var report = await Scopes.CheckAsync("parked", async () =>
        {
            _ = Task.Factory.StartNew(static () => { }, CancellationToken.None, TaskCreationOptions.None, scheduler);
        }, Options(grace));

        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.DelegateTask, leak.Kind);
        Assert.NotEqual(StuckCheck.Verdict, leak.Verdict);
        Assert.Equal("its turn on the TaskScheduler ParkingScheduler (queued, not started)", leak.WaitingOn);
        Assert.Empty(report.DormantContinuations);
        scheduler.RunAll();
        Holder.Scheduler = null;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void QueueToAnEndedContext()
    {
        var queued = Task.Factory.StartNew(static () => { }, CancellationToken.None, TaskCreationOptions.None, new ParkingScheduler());
        _ = queued.ContinueWith(static _ => throw new InvalidOperationException("should never run"), TaskScheduler.Default);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AwaitAnEndedContext() =>
        _ = AwaitQueuedAsync(Task.Factory.StartNew(static () => { }, CancellationToken.None, TaskCreationOptions.None, new ParkingScheduler()));

    private static async Task AwaitQueuedAsync(Task queued) => await queued;

    private static NoLeaksOptions Options(TimeSpan grace) => Scopes.Options(grace);
}
