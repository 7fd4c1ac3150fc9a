using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace NoLeaks.Benchmarks;

/// <summary>
/// Wall time of a whole NUnit run of 2,000 generated clean tests (tests/Fixtures/NUnitOverhead*), in a child process,
/// with and without <c>[assembly: NoTaskLeaks]</c>. The budget: at most 3 % more, comparing medians.
/// </summary>
[Config(typeof(Config))]
public class NUnitAdapterOverheadBenchmarks
{
    [Benchmark(Baseline = true)]
    public int WithoutAttribute() => Run("NUnitOverheadUnchecked");

    [Benchmark]
    public int WithAssemblyNoTaskLeaks() => Run("NUnitOverheadChecked");

    /// <summary>The adapter's own share: its hooks run and decide, but NOLEAKS_ACTION=off starts no scope.</summary>
    [Benchmark]
    public int WithAssemblyNoTaskLeaksActionOff() => Run("NUnitOverheadChecked", "off");

    private static int Run(string fixture, string? action = null)
    {
        OverheadFixtures.RunSuite(OverheadFixtures.NUnit(fixture), action);
        return 0;
    }

    // Each run is a process of about a second: a few monitored iterations, measured in this process.
    private sealed class Config() : MonitoringConfig(iterations: 15, inProcess: true);
}
