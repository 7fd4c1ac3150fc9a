using System.Net;

namespace Shop;

/// <summary>Sends a request again, after a delay, when the server answers 5xx or 429.</summary>
public sealed class RetryHandler(int attempts, TimeSpan delay) : DelegatingHandler
{
    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var transient = (int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests;
            if (!transient || attempt == attempts)
            {
                return response;
            }
            response.Dispose();
            await Task.Delay(delay * attempt, cancellationToken);
        }
    }
}
