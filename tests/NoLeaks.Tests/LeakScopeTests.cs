using System.Diagnostics;
using NoLeaks.Analysis;
using NoLeaks.Tests.Support;
using NoLeaks.Tracking;

namespace NoLeaks.Tests;

/// <summary>The scope's life: ending twice, nesting, never ending, thread-pool threads, floods, broken runtimes.</summary>
public class LeakScopeTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task AwaitAsync(Task never) => await never;

    [Fact(Timeout = TestTimeout)]
    public async Task Ending_a_scope_twice_returns_the_first_report()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("twice", Scopes.Options());
        _ = AwaitAsync(never.Task);
        var first = scope.EndAsync(cancellationToken: Cancel);
        var second = scope.EndAsync(cancellationToken: Cancel);
        var reports = new[] { await first, await second, await scope.EndAsync(cancellationToken: Cancel) };
        never.SetResult();

        Assert.Single(reports.Distinct());
        Assert.Single(reports[0].Leaks);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Grace_period_longer_than_60_s_is_cut_with_a_warning_that_every_report_keeps()
    {
        var soon = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Scopes.Options(TimeSpan.FromMilliseconds(int.MaxValue));

        // Finished while the scope waits: the report of a later check.
        var scope = LeakScope.Begin("finishes", options);
        _ = AwaitAsync(soon.Task);
        var ending = scope.EndAsync(cancellationToken: Cancel);
        Assert.False(ending.IsCompleted);
        soon.SetResult();
        var finished = await ending;

        // Still pending when the wait is cut short: the final report, which names the grace period it was given.
        using var stop = new CancellationTokenSource();
        var leaking = LeakScope.Begin("leaks", options);
        _ = AwaitAsync(never.Task);
        var cut = leaking.EndAsync(cancellationToken: stop.Token);
        await stop.CancelAsync();
        var leaked = await cut;
        never.SetResult();

        Scopes.Clean(finished);
        Assert.Single(leaked.Leaks);
        Assert.Equal(NoLeaksOptions.MaxGracePeriod, leaked.GracePeriod);
        Assert.All([finished, leaked], report => Assert.Contains(
            "the grace period of 2147483.647 s is longer than the longest allowed (60 s); 60 s was used.", report.Warnings));
        Assert.Equal(TimeSpan.FromMilliseconds(int.MaxValue), options.GracePeriod);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Negative_grace_period_waits_for_nothing_and_says_so()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("negative", Scopes.Options(TimeSpan.FromSeconds(-3)));
        _ = AwaitAsync(never.Task);
        var ending = scope.EndAsync(cancellationToken: Cancel);
        Assert.True(ending.IsCompletedSuccessfully);
        var report = await ending;
        never.SetResult();

        Assert.Single(report.Leaks);
        Assert.Equal("the grace period of -3 s is negative; no grace period was used.", Assert.Single(report.Warnings));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Nested_scopes_each_report_their_own_work()
    {
        var outerLeak = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var innerLeak = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outer = LeakScope.Begin("outer", Scopes.Options());
        _ = AwaitAsync(outerLeak.Task);
        var inner = LeakScope.Begin("inner", Scopes.Options());
        Assert.Same(inner, LeakScope.Current);
        Assert.Same(outer, inner.Parent);
        _ = AwaitAsync(innerLeak.Task);
        var innerReport = await inner.EndAsync(cancellationToken: Cancel);
        Assert.Same(outer, LeakScope.Current);
        var outerReport = await outer.EndAsync(cancellationToken: Cancel);
        outerLeak.SetResult();
        innerLeak.SetResult();

        Assert.Equal("inner", Scopes.Single(innerReport).ScopeName);
        Assert.Equal("outer", Scopes.Single(outerReport).ScopeName);
        Assert.Null(LeakScope.Current);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_of_a_scope_that_was_never_ended_is_reported_by_the_enclosing_scope()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outer = LeakScope.Begin("outer", Scopes.Options());
        var forgotten = LeakScope.Begin("forgotten", Scopes.Options());
        _ = AwaitAsync(never.Task);
        forgotten.Dispose();
        var report = await outer.EndAsync(cancellationToken: Cancel);
        var afterDispose = await forgotten.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        Assert.Equal("LeakScopeTests.AwaitAsync", Scopes.Single(report).Method);
        Assert.True(afterDispose.IsClean);
        Assert.Contains("disposed before it was ended", Assert.Single(afterDispose.Warnings));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Inner_scope_left_open_rolls_up_into_the_outer_report()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outer = LeakScope.Begin("outer", Scopes.Options());
        await Task.Run(() =>
        {
            // Begun on another flow and never ended or disposed.
            LeakScope.Begin("left open", Scopes.Options());
            _ = AwaitAsync(never.Task);
        }, Cancel);
        var report = await outer.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        Assert.Equal("LeakScopeTests.AwaitAsync", Scopes.Single(report).Method);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Scope_begun_on_a_thread_pool_thread_works()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Task.Run(async () =>
        {
            Assert.True(Thread.CurrentThread.IsThreadPoolThread);
            var scope = LeakScope.Begin("pool", Scopes.Options());
            _ = AwaitAsync(never.Task);
            await Task.Yield();
            return await scope.EndAsync(cancellationToken: Cancel);
        }, Cancel);
        never.SetResult();

        Assert.Equal("pool", Scopes.Single(report).ScopeName);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Ten_thousand_leaks_make_one_bounded_report_quickly()
    {
        // Measures the analysis of a flood, not the heap search (RetentionBudget has its own tests).
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("flood", new NoLeaksOptions { GracePeriod = TimeSpan.Zero, RetentionBudget = TimeSpan.Zero });
        for (var i = 0; i < 10_000; i++)
        {
            _ = AwaitAsync(never.Task);
        }

        var clock = Stopwatch.StartNew();
        var report = await scope.EndAsync(cancellationToken: Cancel);
        var text = report.ToString();
        clock.Stop();
        never.SetResult();

        var leak = Scopes.Single(report);
        Assert.True(leak.Count == 10_000, $"count {leak.Count}, ignored {report.IgnoredCount}, warnings {string.Join(" / ", report.Warnings)}");
        Assert.Equal(10_000, report.LeakedOperationCount);
        Assert.Contains("(x10000)", text);
        // Catches a blow-up (10,000² steps of the analysis would take minutes), not a timing: about 1 s on an idle
        // 2-core machine, up to 4 s seen under a load average of 20; the machine running the suite is shared.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the report took {clock.Elapsed}");
        Assert.True(text.Length < 4_000, $"the report is {text.Length} characters long");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Many_distinct_leaks_are_listed_up_to_a_bound_and_counted_beyond_it()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("distinct", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
        var leakers = new Func<Task, Task>[] { L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15, L16, L17, L18, L19, L20, L21, L22, L23, L24, L25, L26, L27, L28, L29 };
        foreach (var leaker in leakers)
        {
            _ = leaker(never.Task);
        }

        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        Assert.Equal(30, report.Leaks.Count);
        Assert.Contains("… and 5 more distinct stacks (5 operations), not listed.", report.ToString());
    }

#pragma warning disable SA1516
    private static async Task L0(Task t) => await t; private static async Task L1(Task t) => await t;
    private static async Task L2(Task t) => await t; private static async Task L3(Task t) => await t;
    private static async Task L4(Task t) => await t; private static async Task L5(Task t) => await t;
    private static async Task L6(Task t) => await t; private static async Task L7(Task t) => await t;
    private static async Task L8(Task t) => await t; private static async Task L9(Task t) => await t;
    private static async Task L10(Task t) => await t; private static async Task L11(Task t) => await t;
    private static async Task L12(Task t) => await t; private static async Task L13(Task t) => await t;
    private static async Task L14(Task t) => await t; private static async Task L15(Task t) => await t;
    private static async Task L16(Task t) => await t; private static async Task L17(Task t) => await t;
    private static async Task L18(Task t) => await t; private static async Task L19(Task t) => await t;
    private static async Task L20(Task t) => await t; private static async Task L21(Task t) => await t;
    private static async Task L22(Task t) => await t; private static async Task L23(Task t) => await t;
    private static async Task L24(Task t) => await t; private static async Task L25(Task t) => await t;
    private static async Task L26(Task t) => await t; private static async Task L27(Task t) => await t;
    private static async Task L28(Task t) => await t; private static async Task L29(Task t) => await t;
#pragma warning restore SA1516

    [Fact(Timeout = TestTimeout)]
    public async Task Missing_runtime_internals_become_a_warning_not_a_crash()
    {
        // A runtime whose Task lost the fields NoLeaks reads: the probe says why, the scope reports a warning.
        var tracking = RuntimeTaskTracking.Probe(typeof(Task), "s_noSuchFlag", "s_noSuchDictionary");
        var engine = new LeakEngine(new TrackingSource(tracking, useHook: false));
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("broken runtime", Scopes.Options(), engine);
        _ = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        Assert.False(tracking.IsAvailable);
        Assert.True(report.IsClean);
        Assert.Contains("s_noSuchFlag", report.CheckError);
        var warning = Assert.Single(report.Warnings);
        Assert.Contains("runtime task tracking is unavailable", warning);
        Assert.Contains("s_noSuchFlag", warning);
        Assert.Contains("NoLeaks warning: runtime task tracking is unavailable", report.ToString());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_filter_that_throws_becomes_a_warning()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Scopes.Options();
        options.Ignore.Add(Ignore.Where(_ => throw new InvalidOperationException("boom"), "exploding filter"));
        var scope = LeakScope.Begin("filter", options);
        _ = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        Assert.Single(report.Leaks);
        Assert.Contains("exploding filter threw InvalidOperationException (boom)", Assert.Single(report.Warnings));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Cancelling_the_end_cuts_the_grace_period_short_without_throwing()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cut = new CancellationTokenSource();
        var scope = LeakScope.Begin("cut short", new NoLeaksOptions { GracePeriod = NoLeaksOptions.MaxGracePeriod });
        _ = AwaitAsync(never.Task);
        var ending = scope.EndAsync(cancellationToken: cut.Token);
        cut.Cancel();
        var report = await ending;
        never.SetResult();

        Assert.Single(report.Leaks);
        Assert.Contains("cut short", Assert.Single(report.Warnings));
        Assert.True(report.Waited < TimeSpan.FromMinutes(1));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Creation_stacks_are_captured_only_when_asked()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var withStacks = LeakScope.Begin("stacks", new NoLeaksOptions { GracePeriod = TimeSpan.Zero, CaptureCreationStacks = true });
        _ = AwaitAsync(never.Task); // @created-here
        var reportWith = await withStacks.EndAsync(cancellationToken: Cancel);
        var without = LeakScope.Begin("no stacks", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
        _ = AwaitAsync(never.Task);
        var reportWithout = await without.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        var stack = Scopes.Single(reportWith).CreationStack;
        Assert.NotNull(stack);
        // Release builds may map the call to the line before it.
        var line = SourceLine.Of("created-here");
        Assert.True(
            stack.Contains($"LeakScopeTests.cs:line {line}", StringComparison.Ordinal) || stack.Contains($"LeakScopeTests.cs:line {line - 1}", StringComparison.Ordinal),
            stack);
        Assert.DoesNotContain("at Xunit.", stack);
        Assert.Matches($@"^test stacks at LeakScopeTests\.cs:({line}|{line - 1})$", Scopes.Single(reportWith).CreatedBy);
        Assert.Equal("test no stacks", Scopes.Single(reportWithout).CreatedBy);
        Assert.Null(Scopes.Single(reportWithout).CreationStack);
    }

    private sealed class ExplodingSource : IPendingOperationSource
    {
        public string Name => "exploding source";

        public string? UnavailableReason => null;

        public void OnScopeBegun(LeakScope scope) => throw new InvalidOperationException("begin exploded");

        public IReadOnlyList<PendingOperation> CollectPending(LeakScope scope, ICollection<string> warnings) =>
            throw new InvalidOperationException("collect exploded");

        public long PendingFingerprint(LeakScope scope) => throw new InvalidOperationException("fingerprint exploded");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_that_ends_while_the_first_check_runs_ends_the_wait_at_its_first_recheck()
    {
        // A cold first check (PDBs read for the first time) can outlast the work: by the time the grace period starts,
        // nothing is pending, and the wait must notice that instead of lasting to the end of the grace period.
        var gate = new TaskCompletionSource(); // continuations inline: the work ends inside SetResult
        var engine = new LeakEngine(LeakEngine.Tracking.Source) { BeforeGracePeriod = () => gate.SetResult() };
        var scope = LeakScope.Begin("ends during the first check", Scopes.Options(TimeSpan.FromSeconds(20)), engine);
        var work = AwaitAsync(gate.Task);

        var report = await scope.EndAsync(cancellationToken: Cancel);

        Assert.True(work.IsCompletedSuccessfully, $"the work should have ended before the grace period began:\n{report}");
        Scopes.Clean(report);
        Assert.True(report.Waited < TimeSpan.FromSeconds(5), $"it waited {report.Waited} for work that had ended:\n{report}");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_source_that_throws_becomes_warnings_not_exceptions()
    {
        var scope = LeakScope.Begin("exploding", Scopes.Options(), new LeakEngine(new ExplodingSource()));

        var report = await scope.EndAsync(cancellationToken: Cancel);

        Assert.True(report.IsClean);
        Assert.Contains(report.Warnings, w => w.Contains("exploding source failed when the scope began: InvalidOperationException: begin exploded"));
        Assert.Contains(report.Warnings, w => w.Contains("the leak check failed unexpectedly") && w.Contains("collect exploded"));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Warn_reports_say_the_test_keeps_its_result()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("warned", new NoLeaksOptions { GracePeriod = TimeSpan.Zero, Action = LeakAction.Warn });
        _ = AwaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();

        Assert.False(report.ShouldFail);
        Assert.Contains("This is a warning only", report.ToString());
    }
}
