using NUnit.Framework;

namespace Shop.Tests;

public sealed class OrderQueueTests
{
    // Mistake: the consumer is started, the test reads what it wants, and nobody completes the queue: the consumer
    // waits on the channel for ever.
    [Test, CancelAfter(30_000)]
    public async Task Consumer_left_waiting_for_more_orders()
    {
        var queue = new OrderQueue();
        var ledger = new OrderLedger();
        _ = queue.ConsumeAsync(async (order, _) => { await Task.Yield(); ledger.Add(new PricedOrder(order, 1m)); });

        await queue.AddAsync(new Order(1, "tea", 1));
        await queue.AddAsync(new Order(2, "coffee", 1));
        await ledger.WaitForAsync(2);

        Assert.That(ledger.Orders.Select(o => o.Order.Id), Is.EqualTo(new[] { 1, 2 }));
    }

    // Fixed: the queue is completed and the consumer awaited.
    [Test, CancelAfter(30_000)]
    public async Task Consumer_ends_when_the_queue_is_completed()
    {
        var queue = new OrderQueue();
        var ledger = new OrderLedger();
        var consuming = queue.ConsumeAsync(async (order, _) => { await Task.Yield(); ledger.Add(new PricedOrder(order, 1m)); });

        await queue.AddAsync(new Order(1, "tea", 1));
        await queue.AddAsync(new Order(2, "coffee", 1));
        queue.Complete();
        await consuming;

        Assert.That(ledger.Orders.Select(o => o.Order.Id), Is.EqualTo(new[] { 1, 2 }));
    }
}
