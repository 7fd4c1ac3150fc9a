using NoLeaks.Tests.Support;
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
                new Dictionary<string, string> { [SuiteFixture.LogVariable] = log },
                ["--class", "NoLeaks.NUnit.Fixtures.SuiteConfigurationTests"]);

            Assert.Equal(5, run.Tests.Count);
            Assert.Equal(["Attribute_action_wins_over_the_suite"], run.Tests.Where(test => test.Outcome == "Failed").Select(test => test.Name.Split('.')[^1]));
            Assert.Contains("SuiteConfigurationTests.CountedAsync", run["SuiteConfigurationTests.Attribute_action_wins_over_the_suite"].Message);
            var warned = run["SuiteConfigurationTests.Suite_action_warns_on_a_leak"];
            Assert.Equal("Passed", warned.Outcome);
            Assert.Contains("SuiteConfigurationTests.CountedAsync", warned.Output);
            Assert.Contains("NoLeaks: 1 leaked async operation", warned.Output);

            // The sink got exactly the run's reports, one per test.
            Assert.Equal(SuiteFixture.SinkLines, SuiteFixture.SinkLinesIn(log, "NoLeaks.NUnit.Fixtures"));

            // The sink that throws is named once on the standard error, and the run went on.
            Assert.Single(run.StandardError.Split('\n'), line => line.Contains(SuiteFixture.ThrowingSinkWarning, StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(log);
        }
    }
}
