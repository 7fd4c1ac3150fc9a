using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

public class IgnoreTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task InnerAsync(Task never) => await never;

    private static async Task OuterAsync(Task never) => await InnerAsync(never);

    private static async Task<LeakReport> LeakOuterAsync(NoLeaksOptions options)
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("ignore", options);
        _ = OuterAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();
        return report;
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData("NoLeaks.Tests.IgnoreTests.InnerAsync")]
    [InlineData("NoLeaks.Tests.IgnoreTests.OuterAsync")]
    [InlineData("IgnoreTests.InnerAsync")] // the name the report's headline shows
    [InlineData("NoLeaks.Tests.*")]
    [InlineData("*.IgnoreTests.Inner*")]
    public async Task Async_method_pattern_allows_a_leak_by_any_method_of_its_stack(string pattern)
    {
        var options = new NoLeaksOptions { GracePeriod = TimeSpan.Zero, Ignore = { Ignore.AsyncMethod(pattern) } };

        var report = await LeakOuterAsync(options);

        Scopes.Clean(report);
        Assert.Equal(1, report.IgnoredCount);
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData("NoLeaks.Tests.IgnoreTests.Inner")]
    [InlineData("Other.*")]
    [InlineData("Tests.IgnoreTests.InnerAsync")]
    public async Task Pattern_that_does_not_match_the_full_name_allows_nothing(string pattern)
    {
        var options = new NoLeaksOptions { GracePeriod = TimeSpan.Zero, Ignore = { Ignore.AsyncMethod(pattern) } };

        var report = await LeakOuterAsync(options);

        Assert.Single(report.Leaks);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Where_allows_what_its_predicate_accepts()
    {
        var options = new NoLeaksOptions
        {
            GracePeriod = TimeSpan.Zero,
            Ignore = { Ignore.Where(leak => leak.WaitingOn == "TaskCompletionSource.Task") },
        };

        Scopes.Clean(await LeakOuterAsync(options));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Scope_whose_pending_work_is_all_the_frameworks_is_clean_at_once()
    {
        using var stop = new ManualResetEventSlim();
        var scope = LeakScope.Begin("framework work", new NoLeaksOptions { GracePeriod = TimeSpan.FromMinutes(10) });
        var worker = Xunit.NoLeaksTestDoubles.FrameworkLikeWork.StartWorker(stop);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        stop.Set();
        await worker;

        Scopes.Clean(report);
        Assert.Equal(1, report.IgnoredCount);
        Assert.Equal(TimeSpan.Zero, report.Waited);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Framework_work_does_not_hide_the_users_leak_beside_it()
    {
        using var stop = new ManualResetEventSlim();
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("both", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
        var worker = Xunit.NoLeaksTestDoubles.FrameworkLikeWork.StartWorker(stop);
        _ = InnerAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        stop.Set();
        never.SetResult();
        await worker;

        Assert.Equal("IgnoreTests.InnerAsync", Scopes.Single(report).Method);
        Assert.Equal(1, report.IgnoredCount);
    }

    [Fact]
    public void Blank_patterns_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Ignore.AsyncMethod(" "));
        Assert.Throws<ArgumentNullException>(() => Ignore.Where(null!));
    }
}
