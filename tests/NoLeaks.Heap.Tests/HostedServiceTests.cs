using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NoLeaks.Tests.Support;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// The heap source names the hosted service leaked work runs on, read from the state machine's <c>this</c>, and whether
/// its host was stopped (BackgroundService's stopping source read from the heap). Without the live object it cannot
/// tell which host runs the service, so heap reports go without the host's line. Fails when a hosting or runtime
/// version moves the fields read.
/// </summary>
public class HostedServiceTests
{
    private const int TestTimeout = 60_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Waits on a gate, not on its stopping token: stopping its host does not end it.</summary>
    private sealed class Stubborn(TaskCompletionSource started, TaskCompletionSource gate) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            started.SetResult();
            await gate.Task;
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_background_service_whose_host_was_never_stopped_is_named_from_the_heap()
    {
        var (host, started, gate) = Build(TimeSpan.FromSeconds(30));
        using (host)
        {
            var report = await Scopes.CheckAsync("never stopped", async () =>
            {
                await host.StartAsync(Cancel);
                await started.Task.WaitAsync(Cancel);
            });
            gate.SetResult();
            await host.StopAsync(Cancel);

            var leak = report.Leaks.Single(l => l.Method == "HostedServiceTests.Stubborn.ExecuteAsync");
            Assert.Equal(
                "hosted service `HostedServiceTests.Stubborn` (a BackgroundService) is still running: its host was never stopped. To fix it, "
                + "stop its host before the test ends: await host.StopAsync(), or dispose the host (`await using var factory = …` for a "
                + "WebApplicationFactory)",
                leak.HostedService);
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_background_service_that_ignores_its_stopping_token_is_told_apart_on_the_heap()
    {
        // A zero shutdown timeout: StopAsync cancels the stopping token and returns without waiting for the service.
        var (host, started, gate) = Build(TimeSpan.Zero);
        using (host)
        {
            var report = await Scopes.CheckAsync("stopped, token ignored", async () =>
            {
                await host.StartAsync(Cancel);
                await started.Task.WaitAsync(Cancel);
                await host.StopAsync(Cancel);
            });
            gate.SetResult();

            var leak = report.Leaks.Single(l => l.Method == "HostedServiceTests.Stubborn.ExecuteAsync");
            Assert.StartsWith(
                "hosted service `HostedServiceTests.Stubborn` (a BackgroundService) was stopped or disposed (its stopping token is cancelled)",
                leak.HostedService);
        }
    }

    private static (IHost Host, TaskCompletionSource Started, TaskCompletionSource Gate) Build(TimeSpan shutdownTimeout)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = new HostBuilder()
            .ConfigureServices(services => services
                .AddHostedService(_ => new Stubborn(started, gate))
                .Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout))
            .Build();
        return (host, started, gate);
    }
}
