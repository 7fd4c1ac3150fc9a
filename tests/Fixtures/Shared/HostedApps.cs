using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NoLeaks.TestTargets.MinimalApi;

namespace NoLeaks.Fixtures;

// Hosted apps the hosting fixtures' tests start (xunit v3: XunitV3HostingFixture, NUnit: NUnitHostingFixture), with the
// two BackgroundServices of tests/TestTargets/MinimalApi: OrderPump and PriceTicker.

/// <summary>Starts hosts and WebApplicationFactory apps and waits until both of their services have begun.</summary>
public static class HostedApps
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A host builder with OrderPump and PriceTicker registered, logging off.</summary>
    public static HostApplicationBuilder Builder()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<Started>();
        builder.Services.AddHostedService<OrderPump>();
        builder.Services.AddHostedService<PriceTicker>();
        return builder;
    }

    /// <summary>Starts the host; returns once both services are at their first await (.NET 10 starts them on the pool).</summary>
    public static async Task StartAsync(IHost host, CancellationToken cancellation)
    {
        await host.StartAsync(cancellation);
        await host.Services.GetRequiredService<Started>().Both.Task.WaitAsync(StartTimeout, cancellation);
    }

    /// <summary>Starts the factory's app with its first client and one request; returns once both services have begun.</summary>
    public static async Task StartAsync(WebApplicationFactory<Program> factory, CancellationToken cancellation)
    {
        using var client = factory.CreateClient();
        if (await client.GetStringAsync(new Uri("/ping", UriKind.Relative), cancellation) != "pong")
        {
            throw new InvalidOperationException("the minimal API did not answer /ping");
        }

        await factory.Services.GetRequiredService<Started>().Both.Task.WaitAsync(StartTimeout, cancellation);
    }
}
