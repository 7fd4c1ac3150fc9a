using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

[CollectionDefinition(nameof(EnvironmentVariables), DisableParallelization = true)]
public sealed class EnvironmentVariables;

/// <summary>Changes NOLEAKS_ACTION for the whole process, so it runs alone.</summary>
[Collection(nameof(EnvironmentVariables))]
public class NoLeaksOptionsTests
{
    private const int TestTimeout = 30_000;

    private static async Task AwaitAsync(Task never) => await never;

    [Fact]
    public void Defaults_are_one_second_fail_no_stacks()
    {
        var options = new NoLeaksOptions();

        Assert.Equal(TimeSpan.FromSeconds(1), options.GracePeriod);
        Assert.Equal(LeakAction.Fail, options.Action);
        Assert.False(options.CaptureCreationStacks);
        Assert.Empty(options.Ignore);
        Assert.True(options.UseDefaultFilters);
        Assert.False(options.FailOnCheckError);
    }

    [Theory]
    [InlineData("1", false, true)]
    [InlineData("true", false, true)]
    [InlineData("0", true, false)]
    [InlineData("maybe", true, true)]
    [InlineData(null, false, false)]
    public void Strict_environment_variable_overrides_fail_on_check_error(string? value, bool option, bool expected)
    {
        Environment.SetEnvironmentVariable(NoLeaksOptions.StrictEnvironmentVariable, value);
        NoLeaksOptions.RereadEnvironment();
        try
        {
            Assert.Equal(expected, new NoLeaksOptions { FailOnCheckError = option }.EffectiveFailOnCheckError);
            Assert.Equal(option, new NoLeaksOptions { FailOnCheckError = option }.Clone().FailOnCheckError);
        }
        finally
        {
            Environment.SetEnvironmentVariable(NoLeaksOptions.StrictEnvironmentVariable, null);
            NoLeaksOptions.RereadEnvironment();
        }
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData("warn", LeakAction.Warn, false)]
    [InlineData("WARN", LeakAction.Warn, false)]
    [InlineData("off", LeakAction.Off, false)]
    [InlineData("fail", LeakAction.Fail, true)]
    public async Task Environment_variable_overrides_the_action(string value, LeakAction expected, bool fails)
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, value);
        NoLeaksOptions.RereadEnvironment();
        try
        {
            var options = new NoLeaksOptions { GracePeriod = TimeSpan.Zero, Action = LeakAction.Warn };
            var scope = LeakScope.Begin("env", options);
            _ = AwaitAsync(never.Task);
            var report = await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);

            Assert.Equal(expected, options.EffectiveAction);
            Assert.Equal(expected, report.Action);
            Assert.Equal(fails, report.ShouldFail);
            Assert.Equal(expected == LeakAction.Off, report.IsClean);
        }
        finally
        {
            Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, null);
            NoLeaksOptions.RereadEnvironment();
            never.SetResult();
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Unknown_environment_value_is_ignored_with_a_warning()
    {
        Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, "explode");
        NoLeaksOptions.RereadEnvironment();
        try
        {
            var report = await Scopes.CheckAsync("env", async () => { });

            Assert.Equal(LeakAction.Fail, report.Action);
            Assert.Contains("NOLEAKS_ACTION=\"explode\" is not fail, warn or off", Assert.Single(report.Warnings));
        }
        finally
        {
            Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, null);
            NoLeaksOptions.RereadEnvironment();
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Unknown_environment_value_is_named_in_reports_made_after_a_grace_period()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var soon = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, "explode");
        NoLeaksOptions.RereadEnvironment();
        try
        {
            // Still pending when the grace period is over: the final report.
            var leaked = await Scopes.CheckAsync("env", async () => _ = AwaitAsync(never.Task), Scopes.Options(TimeSpan.FromMilliseconds(20)));

            // Finished while the scope waits: the report of a later check.
            var scope = LeakScope.Begin("env", Scopes.Options(TimeSpan.FromSeconds(30)));
            _ = AwaitAsync(soon.Task);
            var ending = scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);
            Assert.False(ending.IsCompleted);
            soon.SetResult();
            var finished = await ending;

            Assert.False(leaked.IsClean);
            Assert.True(finished.IsClean);
            Assert.All([leaked, finished], report => Assert.Contains("NOLEAKS_ACTION=\"explode\" is not fail, warn or off", Assert.Single(report.Warnings)));
        }
        finally
        {
            Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, null);
            NoLeaksOptions.RereadEnvironment();
            never.SetResult();
        }
    }

    [Fact]
    public void The_environment_variable_is_read_once_per_process()
    {
        Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, "warn");
        NoLeaksOptions.RereadEnvironment();
        try
        {
            var options = new NoLeaksOptions();
            Assert.Equal(LeakAction.Warn, options.EffectiveAction);

            Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, "off");
            Assert.Equal(LeakAction.Warn, options.EffectiveAction);
        }
        finally
        {
            Environment.SetEnvironmentVariable(NoLeaksOptions.ActionEnvironmentVariable, null);
            NoLeaksOptions.RereadEnvironment();
        }
    }
}
