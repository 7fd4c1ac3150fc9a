using Microsoft.Extensions.Hosting;

namespace Shop;

/// <summary>The background service that prices queued orders and records them, for as long as the host runs.</summary>
public sealed class OrderProcessor(OrderQueue queue, PriceClient prices, OrderLedger ledger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await queue.ConsumeAsync(ProcessAsync, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
    }

    private async Task ProcessAsync(Order order, CancellationToken cancellationToken)
    {
        var price = await prices.GetPriceAsync(order.Product, cancellationToken);
        ledger.Add(new PricedOrder(order, price * order.Quantity));
    }
}
