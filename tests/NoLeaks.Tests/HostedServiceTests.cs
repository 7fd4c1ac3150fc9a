using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NoLeaks.Analysis;
using NoLeaks.Tests.Support;
using NoLeaks.Tracking;

namespace NoLeaks.Tests;

/// <summary>
/// Work left running by a hosted app is reported in the user's words: which hosted service it runs in, and whether its
/// host was never stopped or was stopped while the service ignored its stopping token.
/// </summary>
public class HostedServiceTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private sealed class Pinger(TaskCompletionSource? started = null) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            started?.SetResult();
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMinutes(5), stoppingToken);
            }
        }
    }

    /// <summary>Waits on a gate without its stopping token: stopping the host does not end it.</summary>
    private sealed class Stubborn(TaskCompletionSource started, TaskCompletionSource gate) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            started.SetResult();
            await gate.Task;
        }
    }

    /// <summary>A plain IHostedService that starts a loop in StartAsync and never ends it.</summary>
    private sealed class Poller(TaskCompletionSource gate) : IHostedService
    {
        private Task? _loop;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _loop = LoopAsync();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        private async Task LoopAsync() => await gate.Task;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_background_service_whose_host_was_never_stopped_is_named_with_the_fix()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddHostedService(_ => new Pinger(started));
        using var host = builder.Build(); var builtAt = Line();
        var report = await Scopes.CheckAsync("never stopped", async () =>
        {
            await host.StartAsync(Cancel);
            await started.Task.WaitAsync(Cancel);
        });
        await host.StopAsync(Cancel);

        var leak = report.Leaks.Single(l => l.Method == "HostedServiceTests.Pinger.ExecuteAsync");
        Assert.Equal(
            $"hosted service `HostedServiceTests.Pinger` (a BackgroundService registered in the host built at HostedServiceTests.cs:{builtAt}) "
            + "is still running: its host was never stopped. To fix it, stop its host before the test ends: await host.StopAsync(), or "
            + "dispose the host (`await using var factory = …` for a WebApplicationFactory)",
            leak.HostedService);
        Assert.Contains("      runs in     hosted service `HostedServiceTests.Pinger`", report.ToString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_background_service_of_a_default_builder_host_is_named_with_the_line_that_built_it()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = Host.CreateDefaultBuilder().ConfigureServices(services => services.AddHostedService(_ => new Pinger(started))).Build(); var builtAt = Line();
        var report = await Scopes.CheckAsync("default builder", async () =>
        {
            await host.StartAsync(Cancel);
            await started.Task.WaitAsync(Cancel);
        });
        await host.StopAsync(Cancel);

        var leak = report.Leaks.Single(l => l.Method == "HostedServiceTests.Pinger.ExecuteAsync");
        Assert.StartsWith(
            $"hosted service `HostedServiceTests.Pinger` (a BackgroundService registered in the host built at HostedServiceTests.cs:{builtAt}) "
            + "is still running: its host was never stopped.",
            leak.HostedService);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_background_service_that_ignores_its_stopping_token_is_told_apart_from_a_host_never_stopped()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = new HostBuilder()
            .ConfigureServices(services => services.AddHostedService(_ => new Stubborn(started, gate)).Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.Zero));
        using var host = builder.Build(); var builtAt = Line();
        var report = await Scopes.CheckAsync("stopped, token ignored", async () =>
        {
            await host.StartAsync(Cancel);

            // ExecuteAsync runs on the thread pool (.NET 10): stopped before it began, it would never run at all.
            await started.Task.WaitAsync(Cancel);

            // A zero shutdown timeout: StopAsync cancels the stopping token and returns without waiting for the service.
            await host.StopAsync(Cancel);
        });
        gate.SetResult();

        var leak = report.Leaks.Single(l => l.Method == "HostedServiceTests.Stubborn.ExecuteAsync");
        Assert.Equal(
            $"hosted service `HostedServiceTests.Stubborn` (a BackgroundService registered in the host built at HostedServiceTests.cs:{builtAt}) was stopped or disposed (its stopping token is cancelled) "
            + "but HostedServiceTests.Stubborn.ExecuteAsync has not ended: it does not observe the stopping token where it waits",
            leak.HostedService);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_of_a_plain_hosted_service_is_named_as_an_IHostedService()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = new HostBuilder().ConfigureServices(services => services.AddHostedService(_ => new Poller(gate))).Build(); var builtAt = Line();

        // Poller's loop starts inside StartAsync, on the test's own flow: nothing to wait for.
        var report = await Scopes.CheckAsync("plain hosted service", () => host.StartAsync(Cancel));
        await host.StopAsync(Cancel);
        gate.SetResult();

        var leak = Scopes.Single(report);
        Assert.Equal("HostedServiceTests.Poller.LoopAsync", leak.Method);
        Assert.StartsWith(
            $"hosted service `HostedServiceTests.Poller` (an IHostedService registered in the host built at HostedServiceTests.cs:{builtAt}) still "
            + "has this work running: stop its host before the test ends",
            leak.HostedService);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_web_application_factory_never_disposed_names_both_of_its_background_services()
    {
        // tests/TestTargets/MinimalApi: a minimal API with two BackgroundServices; the factory starts its host on first use.
        var factory = new WebApplicationFactory<Program>();
        try
        {
            var report = await Scopes.CheckAsync("factory never disposed", async () =>
            {
                using var client = factory.CreateClient();
                Assert.Equal("pong", await client.GetStringAsync(new Uri("/ping", UriKind.Relative), Cancel));
                await factory.Services.GetRequiredService<NoLeaks.TestTargets.MinimalApi.Started>().Both.Task.WaitAsync(Cancel);
            });

            foreach (var service in HostedAppFixture.Services)
            {
                var leak = report.Leaks.Single(l => l.Method == $"{service}.ExecuteAsync");
                Assert.Equal(HostedAppFixture.FactoryNeverDisposed(service), $"runs in     {leak.HostedService}");
            }
        }
        finally
        {
            await factory.DisposeAsync();
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_web_application_factory_disposed_in_the_test_leaves_nothing()
    {
        var report = await Scopes.CheckAsync("factory disposed", async () =>
        {
            await using var factory = new WebApplicationFactory<Program>();
            using var client = factory.CreateClient();
            Assert.Equal("pong", await client.GetStringAsync(new Uri("/ping", UriKind.Relative), Cancel));
            await factory.Services.GetRequiredService<NoLeaks.TestTargets.MinimalApi.Started>().Both.Task.WaitAsync(Cancel);
        });

        Scopes.Clean(report);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_web_application_waiting_for_shutdown_names_the_host_and_the_line_that_built_it()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        var app = builder.Build(); var builtAt = Line();
        await using (app)
        {
            // What app.Run() and RunAsync() wait in: suspended at once, until the host stops.
            var report = await Scopes.CheckAsync("web application run", async () =>
            {
                await app.StartAsync(Cancel);
                _ = app.WaitForShutdownAsync();
            });
            await app.StopAsync(Cancel);

            var leak = report.Leaks.Single(l => l.Method == "HostingAbstractionsHostExtensions.WaitForShutdownAsync");
            Assert.Equal(
                $"the host built at HostedServiceTests.cs:{builtAt} (its Run or RunAsync returns only when the host stops): the host was "
                + "never stopped. To fix it, stop its host before the test ends: await host.StopAsync(), or dispose the host (`await using "
                + "var factory = …` for a WebApplicationFactory)",
                leak.HostedService);
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_outside_any_hosted_service_names_none()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("no host", async () => _ = WaitAsync(gate.Task));
        gate.SetResult();

        Assert.Null(Scopes.Single(report).HostedService);
        Assert.DoesNotContain("runs in", report.ToString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Probe_background_service_keeps_its_stop_request_where_NoLeaks_reads_it()
    {
        // Fails when a Microsoft.Extensions.Hosting version moves BackgroundService's stopping source: reports then name
        // the service without saying whether its host was stopped.
        var service = new Pinger();
        var background = typeof(BackgroundService);
        await service.StartAsync(Cancel);
        Assert.Equal(false, HostedServices.StoppingRequested(service, background));
        await service.StopAsync(Cancel);
        Assert.Equal(true, HostedServices.StoppingRequested(service, background));
        service.Dispose();
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Probe_a_started_host_keeps_its_hosted_services_where_NoLeaks_reads_them()
    {
        // Fails when a Microsoft.Extensions.Hosting version moves the host's list of hosted services or stops raising
        // HostBuilt: reports then name the service without the line that built its host.
        HostBuilds.Listen();
        var service = new Pinger();
        using var host = new HostBuilder().ConfigureServices(services => services.AddHostedService(_ => service)).Build();
        Assert.Null(HostBuilds.HostedServicesOf(host));
        await host.StartAsync(Cancel);
        Assert.Contains(service, HostBuilds.HostedServicesOf(host)!.Cast<object>());
        Assert.NotNull(HostBuilds.BuildingStackOf(service));
        await host.StopAsync(Cancel);
    }

    private static async Task WaitAsync(Task gate) => await gate;

    private static int Line([CallerLineNumber] int line = 0) => line;
}
