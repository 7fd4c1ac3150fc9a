using System.Globalization;
using System.Net;

namespace Shop.Tests;

/// <summary>The price service, in process: answers every request with one price, or with 503 Service Unavailable.</summary>
public sealed class PriceServer : HttpMessageHandler
{
    private readonly HttpStatusCode _status;
    private readonly decimal _price;
    private int _requests;

    private PriceServer(HttpStatusCode status, decimal price) => (_status, _price) = (status, price);

    /// <summary>The requests received so far.</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>A price service that answers every request with <paramref name="price"/>.</summary>
    public static PriceServer Answering(decimal price) => new(HttpStatusCode.OK, price);

    /// <summary>A price service that answers every request with 503.</summary>
    public static PriceServer Unavailable() => new(HttpStatusCode.ServiceUnavailable, 0);

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        return Task.FromResult(new HttpResponseMessage(_status)
        {
            Content = new StringContent(_price.ToString(CultureInfo.InvariantCulture)),
        });
    }
}
