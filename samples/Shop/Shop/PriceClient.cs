using System.Globalization;

namespace Shop;

/// <summary>Reads prices from the price service over HTTP (through <see cref="RetryHandler"/>).</summary>
public sealed class PriceClient(HttpClient http)
{
    /// <summary>The current price of one unit of <paramref name="product"/>.</summary>
    public async Task<decimal> GetPriceAsync(string product, CancellationToken cancellationToken = default)
    {
        var text = await http.GetStringAsync($"prices/{Uri.EscapeDataString(product)}", cancellationToken);
        return decimal.Parse(text, CultureInfo.InvariantCulture);
    }
}
