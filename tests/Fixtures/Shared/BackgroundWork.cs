namespace NoLeaks.Fixtures;

/// <summary>A fixture that runs work from its creation until it is disposed: that work is the fixture's, not a test's.</summary>
public abstract class BackgroundWork : IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    protected BackgroundWork() => Worker = LeakyWork.RunUntilStoppedAsync(_stop.Token);

    public Task Worker { get; }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}

public sealed class ClassBackgroundWork : BackgroundWork;

public sealed class CollectionBackgroundWork : BackgroundWork;

public sealed class AssemblyBackgroundWork : BackgroundWork;

[CollectionDefinition("with background work")]
public sealed class BackgroundWorkCollection : ICollectionFixture<CollectionBackgroundWork>;
