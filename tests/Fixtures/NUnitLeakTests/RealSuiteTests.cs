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

    [Test, CancelAfter(10_000)]
    public async Task Two_lambdas_on_two_lines()
    {
        // Both lambdas run before the test ends (the report then names the await each is suspended at).
        using var started = new CountdownEvent(2);
        _ = Task.Run(async () => { started.Signal(); await Never.Task; }); // @nunit-lambda-one
        _ = Task.Run(async () => { started.Signal(); await Never.Task; }); // @nunit-lambda-two
        Assert.That(await Task.Run(() => started.Wait(TimeSpan.FromSeconds(10))), "the lambdas did not start");
    }

    // Nothing but the leaked method holds its completion source: it can never resume, and the test fails at once
    // instead of after its long grace period.
    [Test, NoTaskLeaks(GracePeriodMilliseconds = 30_000)]
    public void Await_on_a_completion_source_nobody_holds() => _ = OrphanedAsync();

    [Test]
    public void Continuation_of_a_leaked_method() => _ = ContinuedAsync().ContinueWith(_ => { }, TaskScheduler.Default);

    [Test, NoTaskLeaks(GracePeriodMilliseconds = 100, IgnoreAsyncMethods = new[] { "RealSuiteTests.AllowedByHeadlineAsync" })]
    public void Leak_allowed_by_the_name_its_report_shows() => _ = AllowedByHeadlineAsync();

    private static async Task ContinuedAsync() => await Never.Task; // @nunit-continued

    private static async Task OrphanedAsync()
    {
        var nobodyElse = new TaskCompletionSource();
        await nobodyElse.Task; // @nunit-orphaned
    }

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

