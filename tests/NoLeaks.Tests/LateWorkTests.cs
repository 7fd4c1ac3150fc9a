using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

/// <summary>
/// Work whose shape changes during the grace period: an async delegate that has not started, or is still running its
/// synchronous part, when the scope ends, and suspends forever afterwards. What it suspends in is created after the
/// scope ended; it is still the test's, and is reported.
/// </summary>
public class LateWorkTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = TestTimeout)]
    public async Task Async_delegate_that_starts_only_after_the_first_check_is_reported_where_it_suspends()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var parked = new ParkingScheduler();

        // The delegate runs, and suspends, on a thread of its own after the first check, before the grace period's re-checks.
        var engine = new LeakEngine(LeakEngine.Tracking.Source) { BeforeGracePeriod = () => RunOnAThreadOfItsOwn(parked) };
        var scope = LeakScope.Begin("starts late", Scopes.Options(TimeSpan.FromSeconds(1)), engine);
        _ = Task.Factory.StartNew(async () => await never.Task, CancellationToken.None, TaskCreationOptions.DenyChildAttach, parked).Unwrap(); // @late-start
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        var leak = Scopes.Single(report);
        Assert.Equal("LateWorkTests.Async_delegate_that_starts_only_after_the_first_check_is_reported_where_it_suspends (lambda)", leak.Method);
        Assert.Equal(SourceLine.Of("late-start"), leak.AwaitSite!.Line);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Async_delegate_running_at_the_first_check_and_suspended_after_it_is_reported_where_it_suspends()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var go = new ManualResetEventSlim();
        using var running = new ManualResetEventSlim();
        var engine = new LeakEngine(LeakEngine.Tracking.Source) { BeforeGracePeriod = go.Set };
        var scope = LeakScope.Begin("running, then suspended", Scopes.Options(TimeSpan.FromSeconds(1)), engine);
        _ = Task.Run(async () =>
        {
            running.Set();
            go.Wait(Cancel);
            await never.Task; // @suspends-late
        }, Cancel);
        running.Wait(Cancel);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        var leak = Scopes.Single(report);
        Assert.Equal(SourceLine.Of("suspends-late"), leak.AwaitSite!.Line);
        Assert.Equal("TaskCompletionSource.Task", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Async_delegate_that_runs_between_the_first_check_and_the_collection_and_suspends_on_nothing_held_is_reported()
    {
        // Queued when the first check looks; it runs right after, before the stuck check's collection, and suspends on a
        // semaphore only its own state machine holds (Polly's circuit breakers: Task.Run(StartProcessingAsync) in a
        // constructor, the test over within a millisecond). The check's picture is stale then: taken for a queued task
        // that never ran, or let go with the rest and freed unseen, the leak was lost (1 run in 4 of Polly's suite).
        var parked = new ParkingScheduler();
        var engine = new LeakEngine(LeakEngine.Tracking.Source) { AfterFirstAnalysis = () => RunOnAThreadOfItsOwn(parked) };
        var scope = LeakScope.Begin("runs before the collection", Scopes.Options(TimeSpan.FromSeconds(1)), engine);
        StartWaitingOnASemaphoreNobodyHolds(parked);
        var report = await scope.EndAsync(cancellationToken: Cancel);

        Assert.True(report.ShouldFail, report.ToString());
        Assert.Empty(report.DormantContinuations);
        var leak = Scopes.Single(report);
        Assert.Equal(SourceLine.Of("runs-before-collection"), leak.AwaitSite!.Line);
        Assert.Equal("SemaphoreSlim.WaitAsync()", leak.WaitingOn);
    }

    // What is parked runs on a thread that ends with it: no stack of a live thread keeps its work.
    private static void RunOnAThreadOfItsOwn(ParkingScheduler parked)
    {
        var thread = new Thread(parked.RunAll) { IsBackground = true };
        thread.Start();
        thread.Join();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartWaitingOnASemaphoreNobodyHolds(TaskScheduler scheduler)
    {
        var semaphore = new SemaphoreSlim(0);
        _ = Task.Factory.StartNew(async () => await semaphore.WaitAsync(), CancellationToken.None, TaskCreationOptions.DenyChildAttach, scheduler).Unwrap(); // @runs-before-collection
    }
}
