using NoLeaks.Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("NoLeaks.Fixtures.OwnTestFramework", "XunitV2OwnFrameworkFixture")]

namespace NoLeaks.Fixtures;

/// <summary>The project's own test framework: xunit's, unchanged.</summary>
public sealed class OwnTestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink);

[NoTaskLeaks(GracePeriodMilliseconds = 50)]
public sealed class OwnFrameworkTests : IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public OwnFrameworkTests() => _ = LeakyWork.RunUntilStoppedAsync(_stop.Token);

    [Fact]
    public void Leak_is_still_caught() => _ = LeakyWork.MethodLevelAsync();

    [Fact]
    public void Work_stopped_in_Dispose_is_reported() => _ = LeakyWork.RunUntilStoppedAsync(_stop.Token);

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
