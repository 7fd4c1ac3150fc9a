using Microsoft.Extensions.DependencyInjection;
using NoLeaks.DependencyInjection;

// The suite configuration of the xunit v3 and NUnit 4 assembly-level fixtures (their SuiteConfigurationTests.cs).
[assembly: NoLeaks.NoLeaksConfiguration(typeof(NoLeaks.Fixtures.Suite.FixtureLeakSetup))]

namespace NoLeaks.Fixtures.Suite;

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
                options.Ignore.Add(Ignore.AsyncMethod("*.SuiteConfigurationTests.SuiteIgnoredAsync"));
            })
            .AddSingleton(new ReportFile(log))
            .AddSingleton<ILeakFilter, SuiteFilter>()
            .AddSingleton<ILeakReportSink, ThrowingSink>()
            .AddSingleton<ILeakReportSink, FileSink>();
    }
}

public sealed record ReportFile(string Path);

/// <summary>Leaks awaiting <c>SuiteConfigurationTests.SuiteFilteredAsync</c> do not count.</summary>
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
