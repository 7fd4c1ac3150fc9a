using NoLeaks.Xunit;

namespace NoLeaks.Fixtures;

// Tests run by tests/NoLeaks.Xunit.Tests against both xunit v2 and xunit v3 (compiled into one fixture each).
// Leaked work waits on LeakyWork.Gate, which nobody opens: the fixture process ends it by exiting.

public sealed class MethodLevelTests
{
    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Leak_in_method_level_test_fails() => _ = LeakyWork.MethodLevelAsync();

    [Fact(Timeout = 10_000), NoTaskLeaks]
    public async Task Clean_async_test_passes()
    {
        await Task.Yield();
        await Task.Run(() => { });
    }

    [Fact]
    public void Unmarked_test_that_leaks_passes() => _ = LeakyWork.UncheckedAsync();

    [Fact(Skip = "skipped on purpose"), NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Skipped_test_is_not_checked() => _ = LeakyWork.SkippedAsync();

#if XUNIT_V3
    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Test_skipped_at_run_time_is_not_checked()
    {
        _ = LeakyWork.SkippedAsync();
        Assert.Skip("skipped at run time");
    }
#endif

    [Fact(Timeout = 10_000), NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public async Task Leak_in_timeout_test_fails()
    {
        await Task.Yield();
        _ = LeakyWork.TimeoutAsync();
    }

    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Test_that_throws_and_leaks_keeps_its_own_failure()
    {
        _ = LeakyWork.OwnFailureAsync();
        throw new InvalidOperationException("the test's own failure");
    }

    [Theory, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    [InlineData(false)]
    [InlineData(true)]
    public void Theory_row_that_leaks_fails(bool leaks)
    {
        if (leaks)
        {
            _ = LeakyWork.TheoryRowAsync();
        }
    }
}

[NoTaskLeaks(GracePeriodMilliseconds = 50)]
public sealed class ClassLevelTests
{
    [Fact]
    public void Leak_in_class_level_test_fails() => _ = LeakyWork.ClassLevelAsync();

    [Fact]
    public void Clean_class_level_test_passes()
    {
    }

    [Fact, AllowTaskLeaks("the fixture allows it")]
    public void Allowed_leak_passes() => _ = LeakyWork.AllowedAsync();
}

[NoTaskLeaks]
public sealed class DisposeTests : IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public DisposeTests() => _ = LeakyWork.RunUntilStoppedAsync(_stop.Token);

    [Fact]
    public void Work_stopped_in_Dispose_is_not_a_leak()
    {
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}

[NoTaskLeaks]
public sealed class AsyncLifetimeTests : IAsyncLifetime
{
    private readonly CancellationTokenSource _stop = new();
    private Task _worker = Task.CompletedTask;

    [Fact]
    public void Work_stopped_in_DisposeAsync_is_not_a_leak() => Assert.False(_worker.IsCompleted);

#if XUNIT_V3
    public ValueTask InitializeAsync()
    {
        _worker = LeakyWork.RunUntilStoppedAsync(_stop.Token);
        return default;
    }

    public async ValueTask DisposeAsync()
#else
    public Task InitializeAsync()
    {
        _worker = LeakyWork.RunUntilStoppedAsync(_stop.Token);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
#endif
    {
        await _stop.CancelAsync();
        await _worker;
        _stop.Dispose();
    }
}

[NoTaskLeaks(GracePeriodMilliseconds = 50)]
public sealed class ClassFixtureTests(ClassBackgroundWork work) : IClassFixture<ClassBackgroundWork>
{
    [Fact]
    public void Work_of_a_class_fixture_is_not_the_test_s() => Assert.False(work.Worker.IsCompleted);
}

[Collection("with background work")]
[NoTaskLeaks(GracePeriodMilliseconds = 50)]
public sealed class CollectionFixtureTests(CollectionBackgroundWork work)
{
    [Fact]
    public void Work_of_a_collection_fixture_is_not_the_test_s() => Assert.False(work.Worker.IsCompleted);
}

// Two test classes are two collections, which xunit runs in parallel: each test must see only its own work.
internal static class Rendezvous
{
    public static readonly TaskCompletionSource LeakStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public static readonly TaskCompletionSource CleanStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Waits for the other test, if it runs in parallel at all (one core: it does not), without failing.
    public static async Task MeetAsync(TaskCompletionSource mine, TaskCompletionSource theirs)
    {
        mine.TrySetResult();
        try
        {
            await theirs.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }
    }
}

[NoTaskLeaks(GracePeriodMilliseconds = 50)]
public sealed class ParallelLeakTests
{
    [Fact(Timeout = 10_000)]
    public async Task Leak_in_parallel_collection_fails()
    {
        _ = LeakyWork.ParallelAsync();
        await Rendezvous.MeetAsync(Rendezvous.LeakStarted, Rendezvous.CleanStarted);
    }
}

[NoTaskLeaks(GracePeriodMilliseconds = 50)]
public sealed class ParallelCleanTests
{
    [Fact(Timeout = 10_000)]
    public async Task Clean_test_in_parallel_collection_passes() =>
        await Rendezvous.MeetAsync(Rendezvous.CleanStarted, Rendezvous.LeakStarted);
}

// With NOLEAKS_ACTION=off nothing is checked, so the runtime's task tracking (and its cost on every async operation)
// is never switched on; otherwise this checked test runs with it on.
public sealed class TrackingSwitchTests
{
    [Fact, NoTaskLeaks]
    public void Runtime_task_tracking_is_on_only_when_tests_are_checked() =>
        Assert.Equal(Environment.GetEnvironmentVariable("NOLEAKS_ACTION") != "off", RuntimeTracking.IsOn);
}

internal static class RuntimeTracking
{
    public static bool IsOn =>
        (bool)typeof(Task).GetField("s_asyncDebuggingEnabled", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.GetValue(null)!;
}
