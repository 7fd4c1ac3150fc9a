namespace Shop.Tests;

public sealed class PriceRefresherTests
{
    // Mistake: the refresher is started and never disposed. Its timer loop goes on after the test.
    [Fact(Timeout = 30_000)]
    public async Task Refresher_never_disposed()
    {
        var prices = new PriceClient(ShopHost.CreateHttpClient(PriceServer.Answering(2.50m), TimeSpan.FromSeconds(1)));
        var refresher = new PriceRefresher(prices, "tea", TimeSpan.FromMinutes(5));
        refresher.Start();

        await refresher.FirstRefresh;

        Assert.Equal(2.50m, refresher.Price);
    }

    // Fixed: `await using` stops the timer loop when the test ends.
    [Fact(Timeout = 30_000)]
    public async Task Refresher_disposed()
    {
        var prices = new PriceClient(ShopHost.CreateHttpClient(PriceServer.Answering(2.50m), TimeSpan.FromSeconds(1)));
        await using var refresher = new PriceRefresher(prices, "tea", TimeSpan.FromMinutes(5));
        refresher.Start();

        await refresher.FirstRefresh;

        Assert.Equal(2.50m, refresher.Price);
    }
}
