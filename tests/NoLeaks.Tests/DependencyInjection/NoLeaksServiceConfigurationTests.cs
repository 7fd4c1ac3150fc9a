using Microsoft.Extensions.DependencyInjection;
using NoLeaks.DependencyInjection;
using NoLeaks.Policy;
using NoLeaks.Sdk;

namespace NoLeaks.Tests.DependencyInjection;

public sealed class NoLeaksServiceConfigurationTests
{
    [Fact]
    public void Registered_defaults_filters_and_sinks_become_the_suite_s()
    {
        var suite = LeakSuite.Read(typeof(ShopSetup));

        var options = Assert.IsType<NoLeaksOptions>(LeakCheckPlan.For(null, null, [new Marked()], suite).Options);
        Assert.Equal(TimeSpan.FromSeconds(2), options.GracePeriod);
        Assert.Equal(LeakAction.Warn, options.Action); // the second AddNoLeaks call applies after the first
        Assert.Equal(
            ["Ignore.AsyncMethod(\"Shop.Cache.*\")", typeof(TelemetryFilter).FullName],
            options.Ignore.Select(filter => filter.Description));
        Assert.IsType<TelemetryFilter>(Assert.Single(suite.Filters));
        Assert.Empty(suite.Warnings);

        var report = new LeakReport("Shop.OrderTests.Saves_order", [], [], LeakAction.Warn, TimeSpan.Zero, 0);
        suite.Deliver(report);
        Assert.Equal(["Shop.OrderTests.Saves_order"], ShopSetup.Log.Lines);
    }

    [Fact]
    public void A_service_that_cannot_be_built_is_named_and_the_defaults_are_used()
    {
        var suite = LeakSuite.Read(typeof(BrokenSetup));

        Assert.Contains($"the suite configuration {typeof(BrokenSetup).FullName} threw InvalidOperationException in Configure", Assert.Single(suite.Warnings));
        Assert.Equal(LeakAction.Fail, suite.NewOptions().Action);
    }

    private sealed class ShopSetup : NoLeaksServiceConfiguration
    {
        public static readonly ReportLog Log = new();

        public override void Configure(IServiceCollection services) => services
            .AddNoLeaks(options =>
            {
                options.GracePeriod = TimeSpan.FromSeconds(2);
                options.Ignore.Add(Ignore.AsyncMethod("Shop.Cache.*"));
            })
            .AddNoLeaks(options => options.Action = LeakAction.Warn)
            .AddSingleton(Log)
            .AddSingleton<ILeakFilter, TelemetryFilter>()
            .AddSingleton<ILeakReportSink, LogSink>();
    }

    private sealed class BrokenSetup : NoLeaksServiceConfiguration
    {
        // LogSink needs a ReportLog nobody registered: resolving it throws.
        public override void Configure(IServiceCollection services) => services
            .AddNoLeaks(options => options.Action = LeakAction.Off)
            .AddSingleton<ILeakReportSink, LogSink>();
    }

    private sealed class TelemetryFilter : ILeakFilter
    {
        public bool Counts(TaskLeak leak) => !leak.MethodFullName.StartsWith("Telemetry.", StringComparison.Ordinal);
    }

    private sealed class ReportLog
    {
        public List<string> Lines { get; } = [];
    }

    // A sink with a dependency, resolved from the same services.
    private sealed class LogSink(ReportLog log) : ILeakReportSink
    {
        public void Receive(LeakReport report) => log.Lines.Add(report.ScopeName);
    }

    private sealed class Marked : ILeakCheckSettings
    {
        public int GracePeriodMilliseconds => -1;

        public string[]? IgnoreAsyncMethods => null;

        public LeakAction Action => LeakAction.Fail;

        public bool CaptureCreationStacks => false;

        public LeakAction? ActionIfSet => null;

        public bool? CaptureCreationStacksIfSet => null;
    }
}
