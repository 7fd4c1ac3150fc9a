using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Shop;

/// <summary>The shop's services, wired for a host.</summary>
public static class ShopHost
{
    /// <summary>The price service's address.</summary>
    public static readonly Uri PriceService = new("http://prices.shop.internal/");

    /// <summary>
    /// A host builder with the shop's services: the order queue, the order processor (a hosted service) and the price
    /// client, which sends its requests through <paramref name="priceServer"/> with up to three attempts.
    /// </summary>
    public static HostApplicationBuilder CreateBuilder(HttpMessageHandler priceServer, TimeSpan? retryDelay = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<OrderQueue>();
        builder.Services.AddSingleton<OrderLedger>();
        builder.Services.AddSingleton(new PriceClient(CreateHttpClient(priceServer, retryDelay ?? TimeSpan.FromMilliseconds(200))));
        builder.Services.AddHostedService<OrderProcessor>();
        return builder;
    }

    /// <summary>An HTTP client for the price service that retries transient failures.</summary>
    public static HttpClient CreateHttpClient(HttpMessageHandler priceServer, TimeSpan retryDelay) =>
        new(new RetryHandler(attempts: 3, retryDelay) { InnerHandler = priceServer }) { BaseAddress = PriceService };
}
