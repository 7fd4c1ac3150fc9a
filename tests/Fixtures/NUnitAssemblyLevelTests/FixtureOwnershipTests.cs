using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

// Checked by [assembly: NoTaskLeaks]: a fixture instance outlives its tests, and work it holds is its own.
/// <summary>A background loop a fixture starts on first use, inside whichever test touches it first.</summary>
public sealed class LazyService
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void EnsureStarted()
    {
        lock (_gate)
        {
            _loop ??= LoopAsync(_stop.Token);
        }
    }

    public void Stop() => _stop.Cancel();

    private static async Task LoopAsync(CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromMinutes(1), stop); // @assembly-lazy-loop
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>The fixture stops the service it started lazily in OneTimeTearDown: every test passes.</summary>
public sealed class LazyServiceTests
{
    private readonly LazyService _service = new();

    [Test]
    public void First_use() => _service.EnsureStarted();

    [Test]
    public void Second_use() => _service.EnsureStarted();

    [Test]
    public void Leak_of_its_own_beside_the_service()
    {
        _service.EnsureStarted();
        _ = BesideTheServiceAsync();
    }

    [OneTimeTearDown]
    public void StopService() => _service.Stop();

    private static readonly TaskCompletionSource Never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static async Task BesideTheServiceAsync() => await Never.Task; // @assembly-beside-the-service
}

/// <summary>The fixture never stops the service it started lazily: its teardown fails, naming the test that started it.</summary>
public sealed class ForgetfulServiceTests
{
    private readonly LazyService _service = new();

    [Test]
    public void Starts_a_service_its_fixture_never_stops() => _service.EnsureStarted();
}
