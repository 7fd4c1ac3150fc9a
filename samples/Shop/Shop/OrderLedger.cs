namespace Shop;

/// <summary>Processed orders, and a way to wait until a number of them have been processed.</summary>
public sealed class OrderLedger
{
    private readonly List<PricedOrder> _orders = [];
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];

    /// <summary>The orders processed so far.</summary>
    public IReadOnlyList<PricedOrder> Orders
    {
        get { lock (_orders) return _orders.ToArray(); }
    }

    /// <summary>Records a processed order.</summary>
    public void Add(PricedOrder order)
    {
        lock (_orders)
        {
            _orders.Add(order);
            foreach (var waiter in _waiters.Where(w => w.Count <= _orders.Count).ToArray())
            {
                waiter.Reached.TrySetResult();
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Completes once <paramref name="count"/> orders have been processed.</summary>
    public Task WaitForAsync(int count, CancellationToken cancellationToken = default)
    {
        lock (_orders)
        {
            if (_orders.Count >= count)
            {
                return Task.CompletedTask;
            }
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, reached));
            return reached.Task.WaitAsync(cancellationToken);
        }
    }
}
