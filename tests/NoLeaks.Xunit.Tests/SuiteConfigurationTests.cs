using NoLeaks.Xunit.Tests.Support;

namespace NoLeaks.Xunit.Tests;

/// <summary>
/// A suite configuration through dependency injection, end to end: the xunit v3 assembly-level fixture's
/// <c>FixtureLeakSetup</c> (tests/Fixtures/XunitV3AssemblyLevelFixture/SuiteConfigurationTests.cs).
/// </summary>
public sealed class SuiteConfigurationTests
{
    private const int Timeout = 180_000;

    [Fact(Timeout = Timeout)]
    public async Task Suite_defaults_filters_and_sinks_apply_to_every_checked_test_and_attributes_still_win()
    {
        var log = Path.Combine(Path.GetTempPath(), $"noleaks-suite-{Guid.NewGuid():N}.log");
        try
        {
            var run = await FixtureRun.RunAsync(
                "XunitV3AssemblyLevelFixture",
                action: null,
                new Dictionary<string, string> { ["NOLEAKS_FIXTURE_SUITE_LOG"] = log },
                ["-class", "NoLeaks.Fixtures.SuiteConfigurationTests"]);

            Assert.Equal(["SuiteConfigurationTests.Attribute_action_wins_over_the_suite"], run.Failed);
            Assert.Equal(5, run.Tests.Count);
            var warned = run["SuiteConfigurationTests.Suite_action_warns_on_a_leak"];
            Assert.Equal("Passed", warned.Outcome);
            Assert.Contains("SuiteConfigurationTests.CountedAsync", warned.Output);
            Assert.Contains("NoLeaks: 1 leaked async operation", Assert.Single(warned.Warnings));
            Assert.Contains("SuiteConfigurationTests.CountedAsync", run["SuiteConfigurationTests.Attribute_action_wins_over_the_suite"].Message);

            // The sink got exactly the run's reports, one per test, in its own words.
            var lines = File.ReadAllLines(log).Select(line => line.Replace("NoLeaks.Fixtures.", "", StringComparison.Ordinal)).Order().ToList();
            Assert.Equal(
            [
                "SuiteConfigurationTests.Attribute_action_wins_over_the_suite|1|0|Fail",
                "SuiteConfigurationTests.Clean_test_passes|0|0|Warn",
                "SuiteConfigurationTests.Suite_action_warns_on_a_leak|1|0|Warn",
                "SuiteConfigurationTests.Suite_filter_allows_a_leak|0|1|Warn",
                "SuiteConfigurationTests.Suite_ignore_pattern_allows_a_leak|0|1|Warn",
            ], lines);

            // The sink that throws is named once on the standard error, and the run went on.
            var named = run.StandardError.Split('\n').Where(line => line.Contains("the report sink NoLeaks.Fixtures.Suite.ThrowingSink threw InvalidOperationException (the dashboard is down)", StringComparison.Ordinal));
            Assert.Single(named);
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Without_the_suite_s_settings_the_fixture_keeps_NoLeaks_defaults()
    {
        var run = await FixtureRun.Of("XunitV3AssemblyLevelFixture");

        Assert.All(run.Tests.Where(test => test.Name.Contains(".SuiteConfigurationTests.", StringComparison.Ordinal)), test => Assert.Equal("Skipped", test.Outcome));
        Assert.Equal("Failed", run["AssemblyLevelTests.Leak_in_assembly_level_test_fails"].Outcome);
    }
}
