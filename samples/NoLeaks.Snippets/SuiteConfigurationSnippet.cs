// In the global namespace, as the README shows it.
using Microsoft.Extensions.DependencyInjection;
using NoLeaks;
using NoLeaks.DependencyInjection;

[assembly: NoLeaksConfiguration(typeof(LeakSetup))]

public sealed class LeakSetup : NoLeaksServiceConfiguration
{
    public override void Configure(IServiceCollection services) => services
        .AddNoLeaks(options =>
        {
            options.GracePeriod = TimeSpan.FromSeconds(2);
            options.Ignore.Add(Ignore.AsyncMethod("Shop.Cache.RefreshLoopAsync"));
        })
        .AddSingleton<ILeakFilter, SkipTelemetry>()      // decides whether a leak counts
        .AddSingleton<ILeakReportSink, LeakLog>();       // receives every checked test's report
}

public sealed class SkipTelemetry : ILeakFilter
{
    public bool Counts(TaskLeak leak) => !leak.AwaitChain.Any(frame => frame.FullName.StartsWith("Shop.Telemetry.", StringComparison.Ordinal));
}

public sealed class LeakLog : ILeakReportSink
{
    public void Receive(LeakReport report) =>
        File.AppendAllText("leaks.log", $"{report.ScopeName}: {report.LeakedOperationCount} leaked{Environment.NewLine}");
}
