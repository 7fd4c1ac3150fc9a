using NoLeaks.Fixtures.Suite;
using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>Run with <c>NOLEAKS_FIXTURE_SUITE_LOG</c> set and <c>--class</c> naming this fixture; skipped otherwise.</summary>
public class SuiteConfigurationTests
{
    [SetUp]
    public void RunOnlyWithTheSuiteSettings()
    {
        if (Environment.GetEnvironmentVariable(FixtureLeakSetup.LogVariable) is not { Length: > 0 })
        {
            Assert.Ignore("runs with NOLEAKS_FIXTURE_SUITE_LOG set");
        }
    }

    [Test]
    public void Suite_ignore_pattern_allows_a_leak() => _ = SuiteIgnoredAsync();

    [Test]
    public void Suite_filter_allows_a_leak() => _ = SuiteFilteredAsync();

    [Test]
    public void Suite_action_warns_on_a_leak() => _ = CountedAsync();

    [Test, NoTaskLeaks(Action = LeakAction.Fail)]
    public void Attribute_action_wins_over_the_suite() => _ = CountedAsync();

    [Test]
    public void Clean_test_passes()
    {
    }

    public static async Task SuiteIgnoredAsync() => await Gate.Task;

    public static async Task SuiteFilteredAsync() => await Gate.Task;

    public static async Task CountedAsync() => await Gate.Task;

    private static readonly TaskCompletionSource Gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
