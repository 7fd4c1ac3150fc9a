using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>Shapes met on real suites.</summary>
[NoTaskLeaks(GracePeriodMilliseconds = 100)]
public class RealSuiteTests
{
    private static readonly TaskCompletionSource Never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Libraries of async primitives test "this never completes" with a tripwire: it never runs.
    [Test]
    public void Tripwire_on_a_promise_nobody_completes() =>
        _ = new TaskCompletionSource<int>().Task.ContinueWith(_ => throw new InvalidOperationException("must never run"), TaskScheduler.Default);

    [Test]
    public void Continuation_on_a_timer_that_will_fire() =>
        _ = Task.Delay(TimeSpan.FromHours(1)).ContinueWith(_ => Never.TrySetResult(), TaskScheduler.Default); // @nunit-timer-continuation

    [Test]
    public void Two_lambdas_on_two_lines()
    {
        _ = Task.Run(async () => await Never.Task); // @nunit-lambda-one
        _ = Task.Run(async () => await Never.Task); // @nunit-lambda-two
    }

    [Test]
    public void Continuation_of_a_leaked_method() => _ = ContinuedAsync().ContinueWith(_ => { }, TaskScheduler.Default);

    [Test, NoTaskLeaks(GracePeriodMilliseconds = 100, IgnoreAsyncMethods = new[] { "RealSuiteTests.AllowedByHeadlineAsync" })]
    public void Leak_allowed_by_the_name_its_report_shows() => _ = AllowedByHeadlineAsync();

    private static async Task ContinuedAsync() => await Never.Task; // @nunit-continued

    private static async Task AllowedByHeadlineAsync() => await Never.Task;
}

/// <summary>NUnit builds this fixture for each test, in the test's context, before any action runs.</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
[NoTaskLeaks(GracePeriodMilliseconds = 100)]
public sealed class PerTestCaseTests : IDisposable
{
    private static readonly TaskCompletionSource Never = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();

    public PerTestCaseTests()
    {
        _ = RunUntilStoppedAsync(_stop.Token);
        if (TestContext.CurrentContext.Test.Name == nameof(Leak_from_the_constructor))
        {
            _ = WaitFromConstructorAsync();
        }
    }

    [Test]
    public void Leak_from_the_constructor()
    {
    }

    [Test]
    public void Work_of_the_constructor_stopped_in_Dispose()
    {
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private static async Task WaitFromConstructorAsync() => await Never.Task; // @per-test-case-constructor

    private static async Task RunUntilStoppedAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}

