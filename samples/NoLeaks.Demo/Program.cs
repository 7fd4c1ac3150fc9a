using System.Threading.Channels;
using NoLeaks;

// A "test" that starts an order service and forgets to stop it: the queue's pump stays suspended forever.
var report = await SavesOrder();
Console.WriteLine(report);
Console.WriteLine();

// The same test, stopping the service before it ends: nothing is left behind.
Console.WriteLine(await SavesOrderAndStops());

static async Task<LeakReport> SavesOrder()
{
    var scope = LeakScope.Begin("OrderTests.Saves_order");
    var service = new OrderService();
    await service.StartAsync();
    service.Save(new Order(42));
    return await scope.EndAsync();
}

static async Task<LeakReport> SavesOrderAndStops()
{
    var scope = LeakScope.Begin("OrderTests.Saves_order_and_stops");
    var service = new OrderService();
    await service.StartAsync();
    service.Save(new Order(42));
    await service.StopAsync();
    return await scope.EndAsync();
}

internal sealed record Order(int Id);

internal sealed class OrderQueue
{
    private readonly Channel<Order> _orders = Channel.CreateUnbounded<Order>();

    public void Add(Order order) => _orders.Writer.TryWrite(order);

    public void Complete() => _orders.Writer.TryComplete();

    public async Task PumpAsync()
    {
        while (await _orders.Reader.WaitToReadAsync())
        {
            while (_orders.Reader.TryRead(out var order))
            {
                await Task.Yield();
                _ = order;
            }
        }
    }
}

internal sealed class OrderService
{
    private readonly OrderQueue _queue = new();
    private Task? _pump;

    public Task StartAsync()
    {
        _pump = RunAsync();
        return Task.CompletedTask;
    }

    public void Save(Order order) => _queue.Add(order);

    public async Task StopAsync()
    {
        _queue.Complete();
        await _pump!;
    }

    private async Task RunAsync() => await _queue.PumpAsync();
}
