using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NoLeaks.Xunit;

namespace NoLeaks.Fixtures;

// A class fixture that starts a host on first use, inside whichever test touches it first (as WebApplicationFactory
// does): the host's work belongs to the fixture, which stops it when it is disposed.

/// <summary>A hosted service that runs until its host stops.</summary>
public sealed class Pinger : BackgroundService
{
    /// <summary>Completes when ExecuteAsync begins (.NET 10 starts it on the thread pool, after StartAsync returns).</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Started.TrySetResult();
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromMinutes(1), stoppingToken).ConfigureAwait(false); // @pinger-delay
        }
    }
}

/// <summary>Starts a host on first use; <paramref name="stopsIt"/> says whether Dispose stops it.</summary>
public abstract class LazyHostFixture(bool stopsIt) : IDisposable
{
    private readonly object _gate = new();
    private IHost? _host;

    public IHost Host
    {
        get
        {
            lock (_gate)
            {
                return _host ??= Start();
            }
        }
    }

    public void Dispose()
    {
        if (stopsIt && _host is { } host)
        {
            host.StopAsync().GetAwaiter().GetResult();
            host.Dispose();
        }
    }

    private static IHost Start()
    {
        // Without the default configuration: its appsettings.json reload watches files, and on .NET 11 the file watcher
        // runs as async work of its own, a second leak of a host never disposed. The report stays the same on every runtime.
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<Pinger>();
        builder.Services.AddHostedService(services => services.GetRequiredService<Pinger>());
        var host = builder.Build();
        host.StartAsync().GetAwaiter().GetResult();

        // The host's work is at its await before the test goes on: on a busy thread pool (tests blocking pool threads in
        // parallel) the service's start could otherwise still be queued when the fixture is checked.
        if (!host.Services.GetRequiredService<Pinger>().Started.Task.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("Pinger.ExecuteAsync did not begin within 30 s");
        }

        return host;
    }
}

public sealed class StoppingHostFixture() : LazyHostFixture(stopsIt: true);

public sealed class ForgetfulHostFixture() : LazyHostFixture(stopsIt: false);

[NoTaskLeaks(GracePeriodMilliseconds = 100)]
public sealed class LazyHostTests(StoppingHostFixture fixture) : IClassFixture<StoppingHostFixture>
{
    [Fact]
    public void First_use_of_the_host_passes() => Assert.NotNull(fixture.Host);

    [Fact]
    public void Another_use_of_the_host_passes() => Assert.NotNull(fixture.Host);

    [Fact]
    public void Leak_of_its_own_beside_the_host_fails()
    {
        Assert.NotNull(fixture.Host);
        _ = LeakyWork.BesideTheHostAsync();
    }
}

[NoTaskLeaks(GracePeriodMilliseconds = 100)]
public sealed class ForgetfulHostTests(ForgetfulHostFixture fixture) : IClassFixture<ForgetfulHostFixture>
{
    [Fact]
    public void Test_that_starts_a_host_its_fixture_never_stops_passes() => Assert.NotNull(fixture.Host);
}
