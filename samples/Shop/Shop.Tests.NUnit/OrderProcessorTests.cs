using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NUnit.Framework;

namespace Shop.Tests;

public sealed class OrderProcessorTests
{
    // Mistake: the host is started and never stopped. Its OrderProcessor waits for the next order for ever.
    [Test, CancelAfter(30_000)]
    public async Task Host_started_and_never_stopped()
    {
        var host = ShopHost.CreateBuilder(PriceServer.Answering(2.50m)).Build();
        await host.StartAsync();

        await host.Services.GetRequiredService<OrderQueue>().AddAsync(new Order(1, "tea", 2));
        var ledger = host.Services.GetRequiredService<OrderLedger>();
        await ledger.WaitForAsync(1);

        Assert.That(ledger.Orders.Single().Total, Is.EqualTo(5.00m));
    }

    // Fixed: the host is stopped and disposed before the test ends.
    [Test, CancelAfter(30_000)]
    public async Task Host_stopped_before_the_test_ends()
    {
        using var host = ShopHost.CreateBuilder(PriceServer.Answering(2.50m)).Build();
        await host.StartAsync();

        await host.Services.GetRequiredService<OrderQueue>().AddAsync(new Order(1, "tea", 2));
        var ledger = host.Services.GetRequiredService<OrderLedger>();
        await ledger.WaitForAsync(1);

        Assert.That(ledger.Orders.Single().Total, Is.EqualTo(5.00m));
        await host.StopAsync();
    }
}
