using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Shop.Tests;

public sealed class OrderProcessorTests
{
    // Mistake: the host is started and never stopped. Its OrderProcessor waits for the next order for ever.
    [Fact(Timeout = 30_000)]
    public async Task Host_started_and_never_stopped()
    {
        var host = ShopHost.CreateBuilder(PriceServer.Answering(2.50m)).Build();
        await host.StartAsync();

        await host.Services.GetRequiredService<OrderQueue>().AddAsync(new Order(1, "tea", 2));
        var ledger = host.Services.GetRequiredService<OrderLedger>();
        await ledger.WaitForAsync(1);

        Assert.Equal(5.00m, ledger.Orders.Single().Total);
    }

    // Fixed: the host is stopped and disposed before the test ends.
    [Fact(Timeout = 30_000)]
    public async Task Host_stopped_before_the_test_ends()
    {
        using var host = ShopHost.CreateBuilder(PriceServer.Answering(2.50m)).Build();
        await host.StartAsync();

        await host.Services.GetRequiredService<OrderQueue>().AddAsync(new Order(1, "tea", 2));
        var ledger = host.Services.GetRequiredService<OrderLedger>();
        await ledger.WaitForAsync(1);

        Assert.Equal(5.00m, ledger.Orders.Single().Total);
        await host.StopAsync();
    }
}
