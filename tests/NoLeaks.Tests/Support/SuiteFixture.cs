namespace NoLeaks.Tests.Support;

/// <summary>
/// What the fixtures' suite configuration (tests/Fixtures/Shared/SuiteConfiguration.cs) does, for the adapter test
/// projects that run it: the variable that switches it on, and what its file sink writes for the five tests of a
/// fixture's <c>SuiteConfigurationTests</c> (test|leaked operations|allowed by filters|action, namespace left out).
/// </summary>
internal static class SuiteFixture
{
    public const string LogVariable = "NOLEAKS_FIXTURE_SUITE_LOG";

    public const string ThrowingSinkWarning =
        "the report sink NoLeaks.Fixtures.Suite.ThrowingSink threw InvalidOperationException (the dashboard is down)";

    public static readonly string[] SinkLines =
    [
        "SuiteConfigurationTests.Attribute_action_wins_over_the_suite|1|0|Fail",
        "SuiteConfigurationTests.Clean_test_passes|0|0|Warn",
        "SuiteConfigurationTests.Suite_action_warns_on_a_leak|1|0|Warn",
        "SuiteConfigurationTests.Suite_filter_allows_a_leak|0|1|Warn",
        "SuiteConfigurationTests.Suite_ignore_pattern_allows_a_leak|0|1|Warn",
    ];

    /// <summary>The lines the sink wrote to <paramref name="log"/>, without <paramref name="testNamespace"/>, sorted.</summary>
    public static List<string> SinkLinesIn(string log, string testNamespace) =>
        [.. File.ReadAllLines(log).Select(line => line.Replace(testNamespace + ".", "", StringComparison.Ordinal)).Order()];
}
