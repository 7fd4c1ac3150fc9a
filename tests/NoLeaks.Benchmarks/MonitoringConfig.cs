using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace NoLeaks.Benchmarks;

/// <summary>
/// For operations of milliseconds to seconds (a heap snapshot, a whole test run): one monitored invocation per
/// iteration, two warm-ups, median, min and max.
/// </summary>
internal class MonitoringConfig : ManualConfig
{
    protected MonitoringConfig(int iterations, bool inProcess)
    {
        var job = Job.Default
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(iterations);
        AddJob(inProcess ? job.WithToolchain(InProcessEmitToolchain.Instance) : job);
        AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
    }
}
