using NoLeaks.Tests.Support;
using NoLeaks.Xunit.Tests.Support;

namespace NoLeaks.Xunit.Tests;

/// <summary>
/// A suite configuration through dependency injection, end to end: the xunit v3 assembly-level fixture's
/// <c>FixtureLeakSetup</c> (tests/Fixtures/Shared/SuiteConfiguration.cs) over its <c>SuiteConfigurationTests</c>.
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
                new Dictionary<string, string> { [SuiteFixture.LogVariable] = log },
                ["-class", "NoLeaks.Fixtures.SuiteConfigurationTests"]);

            Assert.Equal(["SuiteConfigurationTests.Attribute_action_wins_over_the_suite"], run.Failed);
            Assert.Equal(5, run.Tests.Count);
            var warned = run["SuiteConfigurationTests.Suite_action_warns_on_a_leak"];
            Assert.Equal("Passed", warned.Outcome);
            Assert.Contains("SuiteConfigurationTests.CountedAsync", warned.Output);
            Assert.Contains("NoLeaks: 1 leaked async operation", Assert.Single(warned.Warnings));
            Assert.Contains("SuiteConfigurationTests.CountedAsync", run["SuiteConfigurationTests.Attribute_action_wins_over_the_suite"].Message);

            // The sink got exactly the run's reports, one per test, in its own words.
            Assert.Equal(SuiteFixture.SinkLines, SuiteFixture.SinkLinesIn(log, "NoLeaks.Fixtures"));

            // The sink that throws is named once on the standard error, and the run went on.
            Assert.Single(run.StandardError.Split('\n'), line => line.Contains(SuiteFixture.ThrowingSinkWarning, StringComparison.Ordinal));
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
