namespace Shop.Tests;

public sealed class PriceClientTests
{
    // Mistake: WaitAsync gives up waiting, but the call goes on: the retry handler sleeps before its next attempt.
    [Fact(Timeout = 30_000)]
    public async Task Call_abandoned_with_WaitAsync_keeps_retrying()
    {
        var prices = new PriceClient(ShopHost.CreateHttpClient(PriceServer.Unavailable(), TimeSpan.FromSeconds(20)));

        await Assert.ThrowsAsync<TimeoutException>(() => prices.GetPriceAsync("tea").WaitAsync(TimeSpan.FromMilliseconds(50)));
    }

    // Fixed: a cancellation token gives up the call itself, retries included.
    [Fact(Timeout = 30_000)]
    public async Task Call_cancelled_with_a_token_stops_retrying()
    {
        var prices = new PriceClient(ShopHost.CreateHttpClient(PriceServer.Unavailable(), TimeSpan.FromSeconds(20)));
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => prices.GetPriceAsync("tea", timeout.Token));
    }
}
