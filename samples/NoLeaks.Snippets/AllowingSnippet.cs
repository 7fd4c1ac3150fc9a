using NoLeaks.Xunit;

namespace NoLeaks.Snippets.Allowing;

public class TelemetryTests
{
    [Fact, AllowTaskLeaks("the cache refresher lives for the whole run")]   // this test is not checked
    public void Warms_cache() { /* … */ }

    [Fact, NoTaskLeaks(IgnoreAsyncMethods = new[] { "Shop.Telemetry.*" })]  // checked, but Shop.Telemetry's methods may stay
    public async Task Sends_telemetry() { /* … */ }
}
