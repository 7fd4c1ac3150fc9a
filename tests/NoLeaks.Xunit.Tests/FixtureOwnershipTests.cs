using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;
using NoLeaks.Xunit.Tests.Support;

namespace NoLeaks.Xunit.Tests;

// End to end, on xunit v2 and v3: a class fixture that starts a host on first use, inside a test
// (tests/Fixtures/Shared/FixtureOwnershipTests.cs). The host's work belongs to the fixture.
public sealed class FixtureOwnershipTests
{
    private const int Timeout = 120_000;

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Tests_that_start_a_fixture_s_host_pass_when_the_fixture_stops_it(string xunit)
    {
        var run = await Checked(xunit);

        Assert.Equal(("Passed", ""), Outcome(run["LazyHostTests.First_use_of_the_host_passes"]));
        Assert.Equal(("Passed", ""), Outcome(run["LazyHostTests.Another_use_of_the_host_passes"]));
        Assert.DoesNotContain(run.Errors, error => error.Contains("StoppingHostFixture", StringComparison.Ordinal));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task A_test_s_own_leak_beside_the_fixture_s_host_fails_with_only_its_own_work(string xunit)
    {
        var test = (await Checked(xunit))["LazyHostTests.Leak_of_its_own_beside_the_host_fails"];

        Assert.Equal("Failed", test.Outcome);
        Assert.Contains($"LeakyWork.BesideTheHostAsync  suspended at {FixtureSource("LeakyWork.cs")}:{Line("beside-the-host", "LeakyWork.cs")}", test.Message);
        Assert.DoesNotContain("Pinger", test.Message);
        Assert.Contains("NoLeaks: 1 leaked async operation from", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task A_fixture_that_never_stops_its_host_fails_its_cleanup_naming_the_test_that_started_it(string xunit)
    {
        var run = await Checked(xunit);

        Assert.Equal(("Passed", ""), Outcome(run["ForgetfulHostTests.Test_that_starts_a_host_its_fixture_never_stops_passes"]));
        var error = Assert.Single(run.Errors);
        Assert.True(error.Contains("NoLeaks: 1 leaked async operation from class fixture ForgetfulHostFixture", StringComparison.Ordinal), error);
        Assert.True(error.Contains($"Pinger.ExecuteAsync  suspended at {FixtureSource("FixtureOwnershipTests.cs")}:{Line("pinger-delay", "FixtureOwnershipTests.cs")}", StringComparison.Ordinal), error);
        Assert.True(error.Contains("created by  test NoLeaks.Fixtures.ForgetfulHostTests.Test_that_starts_a_host_its_fixture_never_stops_passes", StringComparison.Ordinal), error);
    }

    private static (string, string) Outcome(FixtureTest test) => (test.Outcome, test.Message);

    private static Task<FixtureRun> Checked(string xunit) => FixtureRun.Of($"Xunit{xunit}Fixture");

    private static int Line(string marker, string file) => SourceLine.Of(marker, FixtureSource(file));

    private static string FixtureSource(string file, [CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "Shared", file));
}
