using NoLeaks.Xunit;

namespace NoLeaks.Fixtures;

// Shapes met on real suites, run by tests/NoLeaks.Xunit.Tests against xunit v2 and v3. Leaked work waits on
// LeakyWork.Gate, which nobody opens.

[NoTaskLeaks(GracePeriodMilliseconds = 50)]
public sealed class RealSuiteTests
{
#if XUNIT_V3
    [ThreadStatic]
    private static bool s_insideContinuation;

    // xunit v3 only: xunit v2 runs async tests on a SynchronizationContext of its own, so the test resumes there.
    // No Timeout on purpose: with one, xunit runs the test on a task of its own and it no longer resumes inline.
    // The test resumes inside the continuation that completes `done` (ExecuteSynchronously, no
    // RunContinuationsAsynchronously) once both delays have fired, and xunit ends it on that stack: the check runs
    // inside the continuation.
    [Fact]
    public async Task Test_that_ends_inside_a_synchronous_continuation_passes()
    {
        var done = new TaskCompletionSource<int>();
        // Long enough for the test to reach its await first, also on a loaded machine.
        var first = Task.Delay(200);
        var second = Task.Delay(300);
        _ = Task.WhenAll(first, second).ContinueWith(
            _ =>
            {
                s_insideContinuation = true;
                done.TrySetResult(0);
                s_insideContinuation = false;
            },
            TaskContinuationOptions.ExecuteSynchronously);
        await done.Task;

        // The shape under test: this test now runs inside the continuation, which stays running until the test ends.
        Assert.True(s_insideContinuation, "the test did not resume inside the continuation");
    }

    // The same shape, with other work waiting for that continuation to end (a thread blocked on it): both end once the
    // thread the test ended on is let go, which the check must do while it waits.
    [Fact]
    public async Task Work_waiting_for_the_continuation_the_test_ends_inside_passes()
    {
        var done = new TaskCompletionSource<int>();
        var first = Task.Delay(200);
        var second = Task.Delay(300);
        var continuation = Task.WhenAll(first, second).ContinueWith(
            _ =>
            {
                s_insideContinuation = true;
                done.TrySetResult(0);
                s_insideContinuation = false;
            },
            TaskContinuationOptions.ExecuteSynchronously);
        _ = Task.Run(() => continuation.Wait());
        await done.Task;

        Assert.True(s_insideContinuation, "the test did not resume inside the continuation");
    }

#endif

    // Libraries of async primitives test "this never completes" with a tripwire: it never runs.
    [Fact]
    public void Tripwire_on_a_promise_nobody_completes_passes()
    {
        var never = new TaskCompletionSource<int>();
        _ = never.Task.ContinueWith(_ => throw new InvalidOperationException("must never run"), TaskScheduler.Default); // @tripwire
    }

    // A continuation on a timer will run by itself: that is work left behind.
    [Fact]
    public void Continuation_on_a_timer_that_will_fire_fails() =>
        _ = Task.Delay(TimeSpan.FromHours(1)).ContinueWith(_ => LeakyWork.Gate.TrySetResult(), TaskScheduler.Default); // @timer-continuation

    // A delegate task blocked on its thread: read from the thread's stack (NOLEAKS_THREAD_STACKS=1, or unasked when no other
    // test is being checked), the report names the blocking call and its line.
    [Fact]
    public void Delegate_blocked_on_its_thread_names_the_blocking_call()
    {
        Thread? worker = null;
        // LongRunning: a thread of its own, blocked for the rest of the run; a pool thread blocked that long would slow
        // every later test of the fixture that needs the pool (two threads at first on a 2-core machine).
        _ = Task.Factory.StartNew(
            () => { Volatile.Write(ref worker, Thread.CurrentThread); LeakyWork.NeverSet.Wait(); }, // @blocked-wait
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        // Ends once the delegate is blocked (its thread waits), so that the report sees it blocked.
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref worker) is { } t && (t.ThreadState & ThreadState.WaitSleepJoin) != 0, 10_000));
    }

    [Fact(Timeout = 10_000)]
    public async Task Two_lambdas_on_two_lines_are_two_entries()
    {
        // Both lambdas run before the test ends (the report then names the await each is suspended at).
        using var started = new CountdownEvent(2);
        _ = Task.Run(async () => { started.Signal(); await LeakyWork.Gate.Task; }); // @lambda-one
        _ = Task.Run(async () => { started.Signal(); await LeakyWork.Gate.Task; }); // @lambda-two
        Assert.True(await Task.Run(() => started.Wait(TimeSpan.FromSeconds(10))), "the lambdas did not start");
    }

    // Nothing but the leaked method holds its completion source: it can never resume, and the test fails at once
    // instead of after its long grace period.
    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 30_000)]
    public void Await_on_a_completion_source_nobody_holds_fails_at_once() => _ = LeakyWork.OrphanedAsync();

    [Fact]
    public void Continuation_of_a_leaked_method_says_it_continues() =>
        _ = LeakyWork.ContinuedAsync().ContinueWith(_ => { }, TaskScheduler.Default); // @continued-by

    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50, IgnoreAsyncMethods = new[] { "LeakyWork.AllowedByHeadlineAsync" })]
    public void Leak_allowed_by_the_name_its_report_shows_passes() => _ = LeakyWork.AllowedByHeadlineAsync();

    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50, IgnoreAsyncMethods = new[] { "RealSuiteTests.Lambda_allowed_by_the_name_its_report_shows_passes (lambda)" })]
    public void Lambda_allowed_by_the_name_its_report_shows_passes() => _ = Task.Run(async () => await LeakyWork.Gate.Task);

    // A starved thread pool (suites whose tests block pool threads): the test's own short work gets no thread until 3 s
    // after it was queued, past the 0.5-s grace period. The check waits for it, and the test passes with a warning.
    [StarvedPoolFact, NoTaskLeaks(GracePeriodMilliseconds = 500)]
    public void Work_queued_behind_a_starved_pool_passes_once_it_has_run() => StarvedPool.QueueWorkBehindIt(TimeSpan.FromSeconds(3));

    /// <summary>Skipped unless run alone, in a process of its own (NoLeaks.Xunit.Tests): the test caps the thread pool.</summary>
    private sealed class StarvedPoolFactAttribute : FactAttribute
    {
        public StarvedPoolFactAttribute()
        {
            if (!StarvedPool.Wanted)
            {
                Skip = "caps the thread pool: runs alone, in a process of its own (NoLeaks.Xunit.Tests)";
            }
        }
    }
}
