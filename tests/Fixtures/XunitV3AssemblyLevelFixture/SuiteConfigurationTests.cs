using Microsoft.Extensions.DependencyInjection;
using NoLeaks;
using NoLeaks.DependencyInjection;
using NoLeaks.Xunit;

[assembly: NoLeaksConfiguration(typeof(NoLeaks.Fixtures.FixtureLeakSetup))]

namespace NoLeaks.Fixtures;

/// <summary>
/// The suite configuration of this fixture, as a user writes it. It registers something only when
/// <c>NOLEAKS_FIXTURE_SUITE_LOG</c> names the file its sink writes, so that the fixture's other runs keep NoLeaks'
/// defaults.
/// </summary>
public sealed class FixtureLeakSetup : NoLeaksServiceConfiguration
{
    public const string LogVariable = "NOLEAKS_FIXTURE_SUITE_LOG";

    public override void Configure(IServiceCollection services)
    {
        if (Environment.GetEnvironmentVariable(LogVariable) is not { Length: > 0 } log)
        {
            return;
        }

        services
            .AddNoLeaks(options =>
            {
                options.Action = LeakAction.Warn;
                options.Ignore.Add(Ignore.AsyncMethod("NoLeaks.Fixtures.SuiteConfigurationTests.SuiteIgnoredAsync"));
            })
            .AddSingleton(new ReportFile(log))
            .AddSingleton<ILeakFilter, SuiteFilter>()
            .AddSingleton<ILeakReportSink, ThrowingSink>()
            .AddSingleton<ILeakReportSink, FileSink>();
    }
}

public sealed record ReportFile(string Path);

/// <summary>Leaks awaiting <see cref="SuiteConfigurationTests.SuiteFilteredAsync"/> do not count.</summary>
public sealed class SuiteFilter : ILeakFilter
{
    public bool Counts(TaskLeak leak) => !leak.AwaitChain.Any(frame => frame.Method == "SuiteConfigurationTests.SuiteFilteredAsync");
}

/// <summary>One line per report: test|leaked operations|allowed by filters|action.</summary>
public sealed class FileSink(ReportFile file) : ILeakReportSink
{
    public void Receive(LeakReport report) =>
        File.AppendAllText(file.Path, $"{report.ScopeName}|{report.LeakedOperationCount}|{report.IgnoredCount}|{report.Action}{Environment.NewLine}");
}

public sealed class ThrowingSink : ILeakReportSink
{
    public void Receive(LeakReport report) => throw new InvalidOperationException("the dashboard is down");
}

public sealed class SuiteConfigurationTests
{
    public static bool Configured => Environment.GetEnvironmentVariable(FixtureLeakSetup.LogVariable) is { Length: > 0 };

    private const string Skip = "runs with NOLEAKS_FIXTURE_SUITE_LOG set";

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Suite_ignore_pattern_allows_a_leak() => _ = SuiteIgnoredAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Suite_filter_allows_a_leak() => _ = SuiteFilteredAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Suite_action_warns_on_a_leak() => _ = CountedAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured)), NoTaskLeaks(Action = LeakAction.Fail)]
    public void Attribute_action_wins_over_the_suite() => _ = CountedAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Clean_test_passes()
    {
    }

    public static async Task SuiteIgnoredAsync() => await LeakyWork.Gate.Task;

    public static async Task SuiteFilteredAsync() => await LeakyWork.Gate.Task;

    public static async Task CountedAsync() => await LeakyWork.Gate.Task;
}
