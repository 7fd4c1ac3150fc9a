using System.Runtime.CompilerServices;

namespace NoLeaks.Tests.Support;

/// <summary>
/// What the hosting fixtures' tests (tests/Fixtures/Shared/HostedAppTests.cs, tests/Fixtures/NUnitHostingTests) must
/// report, for the adapter test projects that run them: both BackgroundServices of tests/TestTargets/MinimalApi, each
/// named with the line that built its host and the fix.
/// </summary>
internal static class HostedAppFixture
{
    public static readonly string[] Services = ["OrderPump", "PriceTicker"];

    /// <summary>The report's line for a service whose host, built at <paramref name="builtAt"/> (File.cs:N), was never stopped.</summary>
    public static string NeverStopped(string service, string builtAt) =>
        $"runs in     hosted service `{service}` (a BackgroundService registered in the host built at {builtAt}) is still running: its "
        + "host was never stopped. To fix it, stop its host before the test ends: await host.StopAsync(), or dispose the host";

    /// <summary>The report's line for a service of a WebApplicationFactory never disposed.</summary>
    public static string FactoryNeverDisposed(string service) =>
        $"runs in     hosted service `{service}` (a BackgroundService registered in the host a WebApplicationFactory built at "
        + $"Program.cs:{SourceLine.Of("host-built", MinimalApiProgram())}) is still running: its host was never stopped. To fix it, "
        + "dispose the WebApplicationFactory before the test ends (`await using var factory = …`, or the fixture that owns it)";

    /// <summary>The test of a host never stopped failed, naming both services and its host's line.</summary>
    public static void AssertNeverStopped(string outcome, string? message, string fixtureSource, string marker)
    {
        Assert.Equal("Failed", outcome);
        var builtAt = FixtureLine(fixtureSource, marker);
        foreach (var service in Services)
        {
            Assert.Contains(NeverStopped(service, builtAt), message);
        }
    }

    /// <summary>The test of a WebApplicationFactory never disposed failed, naming both services.</summary>
    public static void AssertFactoryNeverDisposed(string outcome, string? message)
    {
        Assert.Equal("Failed", outcome);
        foreach (var service in Services)
        {
            Assert.Contains(FactoryNeverDisposed(service), message);
        }
    }

    /// <summary>The line of <c>// @marker</c> in a fixture source (relative to tests/Fixtures), as File.cs:N.</summary>
    public static string FixtureLine(string relativePath, string marker)
    {
        var file = InTests(Path.Combine("Fixtures", relativePath));
        return $"{Path.GetFileName(file)}:{SourceLine.Of(marker, file)}";
    }

    private static string MinimalApiProgram() => InTests(Path.Combine("TestTargets", "MinimalApi", "Program.cs"));

    /// <summary>A path under tests/, found from this file's own place (tests/NoLeaks.Tests/Support).</summary>
    private static string InTests(string relativePath, [CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", relativePath));
}
