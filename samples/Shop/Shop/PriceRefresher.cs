namespace Shop;

/// <summary>Refreshes a product's price on a timer, until disposed.</summary>
public sealed class PriceRefresher(PriceClient prices, string product, TimeSpan period) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstRefresh = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;

    /// <summary>The price last read, or null before the first refresh.</summary>
    public decimal? Price { get; private set; }

    /// <summary>Completes after the first refresh.</summary>
    public Task FirstRefresh => _firstRefresh.Task;

    /// <summary>Reads the price now and then once per period.</summary>
    public void Start() => _loop = RunAsync(_stop.Token);

    /// <summary>Stops the timer and waits for a refresh in progress.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(period);
        do
        {
            Price = await prices.GetPriceAsync(product, cancellationToken);
            _firstRefresh.TrySetResult();
        }
        while (await timer.WaitForNextTickAsync(cancellationToken));
    }
}
