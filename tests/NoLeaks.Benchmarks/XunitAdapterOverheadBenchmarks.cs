using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace NoLeaks.Benchmarks;

/// <summary>
/// Wall time of a whole xunit run of 2,000 generated clean tests (tests/Fixtures/XunitV*Overhead, source from
/// build/generate-overhead-tests.sh), with the adapter's hook registered but no attribute, and with
/// <c>[assembly: NoTaskLeaks]</c>. One operation = one fixture process, start to exit.
/// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --filter '*XunitAdapterOverhead*'
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 15)]
[MedianColumn]
public class XunitAdapterOverheadBenchmarks
{
    private string _fixture = "";

    [Params("XunitV2Overhead", "XunitV3Overhead")]
    public string Xunit { get; set; } = "";

    [Params("Registered", "Checked")]
    public string Variant { get; set; } = "";

    [GlobalSetup]
    public void BuildFixture() => _fixture = OverheadFixtures.BuildXunit(Xunit, Variant);

    [Benchmark]
    public void RunAllTests() => OverheadFixtures.RunSuite(_fixture);
}
