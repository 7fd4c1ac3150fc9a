using System.Threading.Channels;

namespace Shop;

/// <summary>Orders waiting to be processed: a channel that producers write to and one consumer reads.</summary>
public sealed class OrderQueue
{
    private readonly Channel<Order> _orders = Channel.CreateUnbounded<Order>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Queues an order.</summary>
    public ValueTask AddAsync(Order order, CancellationToken cancellationToken = default) =>
        _orders.Writer.WriteAsync(order, cancellationToken);

    /// <summary>No more orders: the consumer ends once it has processed those queued.</summary>
    public void Complete() => _orders.Writer.TryComplete();

    /// <summary>Hands every order to <paramref name="process"/> until the queue is completed or the token cancelled.</summary>
    public async Task ConsumeAsync(Func<Order, CancellationToken, Task> process, CancellationToken cancellationToken = default)
    {
        while (await _orders.Reader.WaitToReadAsync(cancellationToken))
        {
            while (_orders.Reader.TryRead(out var order))
            {
                await process(order, cancellationToken);
            }
        }
    }
}
