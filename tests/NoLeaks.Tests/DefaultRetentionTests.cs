using System.Globalization;
using NoLeaks.Sdk;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

/// <summary>
/// The retention search runs by default (Linux, .NET 10 and later) on every report with leaks, and
/// NOLEAKS_RETENTION_BUDGET_MS sets or switches it off. Alone in the process (the variable is the process's, and a
/// search under other tests' allocations can only answer "unknown").
/// </summary>
[Collection(nameof(EnvironmentVariables))]
public class DefaultRetentionTests
{
    private const int TestTimeout = 60_000;

    private static bool OnByDefault => OperatingSystem.IsLinux() && Environment.Version.Major >= 10;

    private static class Holder
    {
        public static TaskCompletionSource<int>? Pending;
    }

    private static async Task<int> WaitForHolderAsync() => await Holder.Pending!.Task;

    /// <summary>A leak awaiting a completion source a static holds, reported with the default options but a short grace.</summary>
    private static async Task<LeakReport> LeakHeldByStaticAsync()
    {
        Holder.Pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            return await Scopes.CheckAsync("held by a static", async () => { _ = WaitForHolderAsync(); }, new NoLeaksOptions { GracePeriod = Scopes.ShortGrace });
        }
        finally
        {
            Holder.Pending.SetResult(1);
        }
    }

    private static T WithVariable<T>(string? value, Func<T> run)
    {
        Environment.SetEnvironmentVariable(NoLeaksOptions.RetentionBudgetEnvironmentVariable, value);
        NoLeaksOptions.RereadEnvironment();
        try
        {
            return run();
        }
        finally
        {
            Environment.SetEnvironmentVariable(NoLeaksOptions.RetentionBudgetEnvironmentVariable, null);
            NoLeaksOptions.RereadEnvironment();
        }
    }

    private static async Task<LeakReport> WithVariableAsync(string? value, Func<Task<LeakReport>> run)
    {
        Environment.SetEnvironmentVariable(NoLeaksOptions.RetentionBudgetEnvironmentVariable, value);
        NoLeaksOptions.RereadEnvironment();
        try
        {
            return await run();
        }
        finally
        {
            Environment.SetEnvironmentVariable(NoLeaksOptions.RetentionBudgetEnvironmentVariable, null);
            NoLeaksOptions.RereadEnvironment();
        }
    }

    [Fact]
    public void The_default_budget_is_one_second_on_Linux_with_NET_10_or_later_and_off_elsewhere()
    {
        Assert.Equal(OnByDefault ? TimeSpan.FromSeconds(1) : TimeSpan.Zero, new NoLeaksOptions().RetentionBudget);
        Assert.Equal(NoLeaksOptions.DefaultRetentionBudget, new NoLeaksOptions().Clone().RetentionBudget);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task By_default_a_leak_held_by_a_static_is_reported_with_that_static_and_still_reachable()
    {
        var leak = Scopes.Single(await LeakHeldByStaticAsync());

        if (!OnByDefault)
        {
            Assert.Null(leak.RetentionPath);
            Assert.Null(leak.Verdict);
            return;
        }

        // A loaded machine may end the search before it answers; it then says so, and nothing else.
        Assert.NotNull(leak.RetentionPath);
        Assert.NotNull(leak.Verdict);
        if (!leak.RetentionPath.StartsWith("unknown — ", StringComparison.Ordinal))
        {
            Assert.StartsWith("static DefaultRetentionTests.Holder.Pending → ._task Task<int>", leak.RetentionPath);
            Assert.StartsWith("still reachable from static DefaultRetentionTests.Holder.Pending", leak.Verdict);
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task The_variable_at_zero_switches_the_search_off()
    {
        var report = await WithVariableAsync("0", LeakHeldByStaticAsync);

        var leak = Scopes.Single(report);
        Assert.Null(leak.RetentionPath);
        Assert.Null(leak.Verdict);
        Assert.Empty(report.Warnings);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task The_variable_sets_the_budget_on_any_runtime()
    {
        var budget = TimeSpan.Zero;
        var report = await WithVariableAsync("20000", () =>
        {
            budget = new NoLeaksOptions().EffectiveRetentionBudget;
            return LeakHeldByStaticAsync();
        });

        var leak = Scopes.Single(report);
        Assert.Equal(TimeSpan.FromSeconds(20), budget);
        Assert.NotNull(leak.RetentionPath);
        Assert.NotNull(leak.Verdict);
    }

    [Theory]
    [InlineData(0, 1_000, 1_000)]        // no time limit
    [InlineData(60_000, 1_000, 1_000)]   // room enough
    [InlineData(2_000, 1_000, 0)]        // the grace period ends a quarter ahead of the limit: no room for a search
    [InlineData(4_000, 1_000, 500)]      // 4 s less 1 s to spare, 1 s of grace and 1.5 s for naming statics
    [InlineData(3_400, 1_000, 0)]        // room for a search of 50 ms: too short to run
    [InlineData(10_000, 20_000, 6_500)]  // the variable's budget is cut too
    public void A_test_s_time_limit_leaves_the_search_only_the_room_after_the_grace_period(int limit, int budget, int expected)
    {
        var options = new NoLeaksOptions { GracePeriod = TimeSpan.FromSeconds(1), RetentionBudget = TimeSpan.FromSeconds(1) };

        // A budget other than the option's comes from the variable, which the limit cuts as well.
        var effective = WithVariable(
            budget == 1_000 ? null : budget.ToString(CultureInfo.InvariantCulture),
            () => LeakCheckPlan.WithinTimeLimit(options, limit, TimeSpan.Zero).EffectiveRetentionBudget);

        Assert.Equal(TimeSpan.FromMilliseconds(expected), effective);
        Assert.Equal(TimeSpan.FromSeconds(1), options.EffectiveRetentionBudget);
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData("soon")]
    [InlineData("-5")]
    [InlineData("1.5")]
    public async Task A_variable_that_is_no_whole_number_of_milliseconds_is_ignored_with_a_warning(string value)
    {
        var report = await WithVariableAsync(value, () => Scopes.CheckAsync("clean", async () => { }));

        Assert.True(report.IsClean, report.ToString());
        Assert.Contains($"NOLEAKS_RETENTION_BUDGET_MS=\"{value}\" is not a whole number of milliseconds; it was ignored.", Assert.Single(report.Warnings));
    }
}
