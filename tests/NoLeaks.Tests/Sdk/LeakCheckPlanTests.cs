using NoLeaks.Sdk;

namespace NoLeaks.Tests.Sdk;

public sealed class LeakCheckPlanTests
{
    [Fact]
    public void Ignore_lists_add_up_over_the_levels_and_other_settings_come_from_the_closest()
    {
        var plan = LeakCheckPlan.For(
            [new Settings { GracePeriodMilliseconds = 50, IgnoreAsyncMethods = ["Shop.A"] }],
            [new Settings { Action = LeakAction.Warn, CaptureCreationStacks = true, IgnoreAsyncMethods = ["Shop.B"] }],
            [new Settings { GracePeriodMilliseconds = 5_000, IgnoreAsyncMethods = ["Shop.C"] }]);

        var options = Assert.IsType<NoLeaksOptions>(plan.Options);
        Assert.Equal(["Shop.A", "Shop.B", "Shop.C"], options.Ignore.Select(Pattern));
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.GracePeriod);
        Assert.Equal(LeakAction.Fail, options.Action);
        Assert.False(options.CaptureCreationStacks);
        Assert.Empty(plan.Warnings);
    }

    [Fact]
    public void Opt_out_at_the_closest_level_wins_and_one_without_a_reason_is_named()
    {
        var plan = LeakCheckPlan.For([new OptOut(" ")], [new Settings()], null);

        Assert.False(plan.IsChecked);
        Assert.Equal("(no reason given)", plan.OptOutReason);
        Assert.Equal("[AllowTaskLeaks] on the test method gives no reason; say why this work may outlive the test.", Assert.Single(plan.Warnings));
    }

    [Fact]
    public void Bad_settings_are_left_out_and_named_in_every_report_of_the_plan()
    {
        var plan = LeakCheckPlan.For(
            [new Settings { GracePeriodMilliseconds = -5, IgnoreAsyncMethods = ["", "Shop.A"], Action = (LeakAction)7 }],
            null,
            [new Settings { IgnoreAsyncMethods = [" "] }]);

        var options = Assert.IsType<NoLeaksOptions>(plan.Options);
        Assert.Equal(["Shop.A"], options.Ignore.Select(Pattern));
        Assert.Equal(TimeSpan.FromSeconds(1), options.GracePeriod);
        Assert.Equal(LeakAction.Fail, options.Action);
        Assert.Equal(
        [
            "[NoTaskLeaks(Action = 7)] is not Fail, Warn or Off; Fail was used.",
            "[NoTaskLeaks(GracePeriodMilliseconds = -5)] is negative; the default grace period (1 s) was used.",
            "[NoTaskLeaks(IgnoreAsyncMethods = …)] holds an empty pattern, which matches nothing; it was left out.",
            "[NoTaskLeaks(IgnoreAsyncMethods = …)] on the assembly holds an empty pattern, which matches nothing; it was left out.",
        ], plan.Warnings);
        Assert.Equal(plan.Warnings, options.SettingWarnings);
    }

    [Theory]
    [InlineData(0, 0, 60_000, 60_000)]          // no time limit
    [InlineData(2_000, 0, 60_000, 1_500)]       // a quarter of the limit to spare
    [InlineData(2_000, 400, 60_000, 1_100)]     // counted from the test's start
    [InlineData(2_000, 1_900, 60_000, 0)]       // nothing left: one check, no wait
    [InlineData(20_000, 0, 60_000, 19_000)]     // at most one second to spare
    [InlineData(2_000, 0, 100, 100)]            // a shorter grace period is kept
    public void Grace_period_ends_before_the_test_s_time_limit(int limit, int elapsed, int grace, int expected)
    {
        var options = new NoLeaksOptions { GracePeriod = TimeSpan.FromMilliseconds(grace) };

        var within = LeakCheckPlan.WithinTimeLimit(options, limit, TimeSpan.FromMilliseconds(elapsed));

        Assert.Equal(TimeSpan.FromMilliseconds(expected), within.GracePeriod);
        Assert.Equal(TimeSpan.FromMilliseconds(grace), options.GracePeriod);
    }

    private static string Pattern(LeakFilter filter) => filter.Description["Ignore.AsyncMethod(\"".Length..^"\")".Length];

    private sealed class Settings : ILeakCheckSettings
    {
        public int GracePeriodMilliseconds { get; init; } = -1;

        public string[]? IgnoreAsyncMethods { get; init; }

        public LeakAction Action { get; init; }

        public bool CaptureCreationStacks { get; init; }
    }

    private sealed class OptOut(string reason) : ILeakCheckOptOut
    {
        public string Reason { get; } = reason;
    }
}
