using NUnit.Framework;

namespace Shop.Tests;

public sealed class PriceRefresherTests
{
    // Mistake: the refresher is started and never disposed. Its timer loop goes on after the test.
    [Test, CancelAfter(30_000)]
    public async Task Refresher_never_disposed()
    {
        var prices = new PriceClient(ShopHost.CreateHttpClient(PriceServer.Answering(2.50m), TimeSpan.FromSeconds(1)));
        var refresher = new PriceRefresher(prices, "tea", TimeSpan.FromMinutes(5));
        refresher.Start();

        await refresher.FirstRefresh;

        Assert.That(refresher.Price, Is.EqualTo(2.50m));
    }

    // Fixed: `await using` stops the timer loop when the test ends.
    [Test, CancelAfter(30_000)]
    public async Task Refresher_disposed()
    {
        var prices = new PriceClient(ShopHost.CreateHttpClient(PriceServer.Answering(2.50m), TimeSpan.FromSeconds(1)));
        await using var refresher = new PriceRefresher(prices, "tea", TimeSpan.FromMinutes(5));
        refresher.Start();

        await refresher.FirstRefresh;

        Assert.That(refresher.Price, Is.EqualTo(2.50m));
    }
}
