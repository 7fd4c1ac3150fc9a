using NoLeaks.Tests.Support;
using NoLeaks.Xunit.Tests.Support;

namespace NoLeaks.Xunit.Tests;

/// <summary>
/// Hosted apps end to end on xunit v3 (tests/Fixtures/XunitV3HostingFixture): a host and a WebApplicationFactory never stopped
/// fail naming both of their BackgroundServices and where the host was built; their fixed twins pass.
/// </summary>
public sealed class HostedAppTests
{
    private const int Timeout = 120_000;

    [Fact(Timeout = Timeout)]
    public async Task A_host_never_stopped_fails_naming_both_services_and_the_line_that_built_it()
    {
        var test = (await Run())["HostedAppTests.Host_never_stopped_fails"];

        HostedAppFixture.AssertNeverStopped(test.Outcome, test.Message, "Shared/HostedAppTests.cs", "host-never-stopped");
    }

    [Fact(Timeout = Timeout)]
    public async Task A_web_application_factory_never_disposed_fails_naming_both_services()
    {
        var test = (await Run())["HostedAppTests.Factory_never_disposed_fails"];

        HostedAppFixture.AssertFactoryNeverDisposed(test.Outcome, test.Message);
    }

    [Fact(Timeout = Timeout)]
    public async Task The_fixed_twins_pass()
    {
        var run = await Run();

        Assert.Equal(4, run.Tests.Count);
        foreach (var twin in new[] { "HostedAppTests.Host_stopped_passes", "HostedAppTests.Factory_disposed_passes" })
        {
            // The whole message on failure: a report cut to a few characters cannot be read.
            Assert.True(run[twin].Outcome == "Passed" && string.IsNullOrEmpty(run[twin].Message), $"{twin}: {run[twin].Outcome}\n{run[twin].Message}");
        }
    }

    private static Task<FixtureRun> Run() => FixtureRun.Of("XunitV3HostingFixture");
}
