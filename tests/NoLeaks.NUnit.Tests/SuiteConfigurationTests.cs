using NoLeaks.NUnit.Tests.Support;

namespace NoLeaks.NUnit.Tests;

/// <summary>
/// A suite configuration through dependency injection, end to end on NUnit 4: the assembly-level fixture's
/// <c>FixtureLeakSetup</c> (tests/Fixtures/Shared/SuiteConfiguration.cs) over its <c>SuiteConfigurationTests</c>.
/// </summary>
public sealed class SuiteConfigurationTests
{
    private const int Timeout = 180_000;
    private const string Fixture = "NUnit4AssemblyLevelFixture";

    [Fact(Timeout = Timeout)]
    public async Task Suite_defaults_filters_and_sinks_apply_to_every_checked_test_and_attributes_still_win()
    {
        var log = Path.Combine(Path.GetTempPath(), $"noleaks-suite-{Guid.NewGuid():N}.log");
        try
        {
            var run = await FixtureRun.RunAsync(
                Fixture,
                action: null,
                new Dictionary<string, string> { ["NOLEAKS_FIXTURE_SUITE_LOG"] = log },
                ["--class", "NoLeaks.NUnit.Fixtures.SuiteConfigurationTests"]);

            Assert.Equal(5, run.Tests.Count);
            Assert.Equal(["Attribute_action_wins_over_the_suite"], run.Tests.Where(test => test.Outcome == "Failed").Select(test => test.Name.Split('.')[^1]));
            Assert.Contains("SuiteConfigurationTests.CountedAsync", run["SuiteConfigurationTests.Attribute_action_wins_over_the_suite"].Message);
            var warned = run["SuiteConfigurationTests.Suite_action_warns_on_a_leak"];
            Assert.Equal("Passed", warned.Outcome);
            Assert.Contains("SuiteConfigurationTests.CountedAsync", warned.Output);
            Assert.Contains("NoLeaks: 1 leaked async operation", warned.Output);

            // The sink got exactly the run's reports, one per test.
            var lines = File.ReadAllLines(log).Select(line => line.Replace("NoLeaks.NUnit.Fixtures.", "", StringComparison.Ordinal)).Order().ToList();
            Assert.Equal(
            [
                "SuiteConfigurationTests.Attribute_action_wins_over_the_suite|1|0|Fail",
                "SuiteConfigurationTests.Clean_test_passes|0|0|Warn",
                "SuiteConfigurationTests.Suite_action_warns_on_a_leak|1|0|Warn",
                "SuiteConfigurationTests.Suite_filter_allows_a_leak|0|1|Warn",
                "SuiteConfigurationTests.Suite_ignore_pattern_allows_a_leak|0|1|Warn",
            ], lines);

            // The sink that throws is named once on the standard error, and the run went on.
            Assert.Single(run.StandardError.Split('\n'), line => line.Contains(
                "the report sink NoLeaks.Fixtures.Suite.ThrowingSink threw InvalidOperationException (the dashboard is down)", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(log);
        }
    }
}
