using Microsoft.AspNetCore.Mvc.Testing;
using NoLeaks.Xunit;

namespace NoLeaks.Fixtures;

// Run by tests/NoLeaks.Xunit.Tests/HostedAppTests.cs, which names the lines marked @… below. The hosts left running end
// with the fixture process.

// A host stops and a factory's app returns from its Run on threads of their own: a grace period that load cannot outrun.
[NoTaskLeaks(GracePeriodMilliseconds = 2_000)]
public sealed class HostedAppTests
{
    private const int Timeout = 60_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = Timeout)]
    public async Task Host_never_stopped_fails()
    {
        var host = HostedApps.Builder().Build(); // @host-never-stopped
        await HostedApps.StartAsync(host, Cancel);
    }

    [Fact(Timeout = Timeout)]
    public async Task Host_stopped_passes()
    {
        using var host = HostedApps.Builder().Build();
        await HostedApps.StartAsync(host, Cancel);
        await host.StopAsync(Cancel);
    }

    [Fact(Timeout = Timeout)]
    public async Task Factory_never_disposed_fails()
    {
        var factory = new WebApplicationFactory<Program>();
        await HostedApps.StartAsync(factory, Cancel);
    }

    [Fact(Timeout = Timeout)]
    public async Task Factory_disposed_passes()
    {
        await using var factory = new WebApplicationFactory<Program>();
        await HostedApps.StartAsync(factory, Cancel);
    }
}
