using NoLeaks.Fixtures.Suite;
using NoLeaks.Xunit;

namespace NoLeaks.Fixtures;

/// <summary>Run with <c>NOLEAKS_FIXTURE_SUITE_LOG</c> set and <c>-class</c> naming this class; skipped otherwise.</summary>
public sealed class SuiteConfigurationTests
{
    public static bool Configured => Environment.GetEnvironmentVariable(FixtureLeakSetup.LogVariable) is { Length: > 0 };

    private const string Skip = "runs with NOLEAKS_FIXTURE_SUITE_LOG set";

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Suite_ignore_pattern_allows_a_leak() => _ = SuiteIgnoredAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Suite_filter_allows_a_leak() => _ = SuiteFilteredAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Suite_action_warns_on_a_leak() => _ = CountedAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured)), NoTaskLeaks(Action = LeakAction.Fail)]
    public void Attribute_action_wins_over_the_suite() => _ = CountedAsync();

    [Fact(Skip = Skip, SkipUnless = nameof(Configured))]
    public void Clean_test_passes()
    {
    }

    public static async Task SuiteIgnoredAsync() => await LeakyWork.Gate.Task;

    public static async Task SuiteFilteredAsync() => await LeakyWork.Gate.Task;

    public static async Task CountedAsync() => await LeakyWork.Gate.Task;
}
