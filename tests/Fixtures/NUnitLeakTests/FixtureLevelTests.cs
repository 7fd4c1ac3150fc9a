using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>[NoTaskLeaks] on the fixture, overridden or opted out per test.</summary>
[NoTaskLeaks(GracePeriodMilliseconds = 100)]
public class FixtureLevelTests
{
    [Test]
    public void Leak_in_body() => _ = WaitInBodyAsync();

    [Test]
    public async Task Leak_after_an_await_in_an_async_test()
    {
        await Task.Yield();
        _ = Task.Run(() => WaitInTaskRunAsync());
    }

    [Test]
    public async Task Clean_test() => await Task.Delay(1);

    [Test]
    public void Test_that_throws_and_leaks()
    {
        _ = WaitBeforeThrowingAsync();
        throw new InvalidOperationException("the test's own failure");
    }

    [Test]
    public void Test_that_fails_an_assertion_and_leaks()
    {
        _ = WaitBeforeAssertingAsync();
        Assert.That(1 + 1, Is.EqualTo(3), "the test's own assertion");
    }

    [Test, AllowTaskLeaks("the test is about the opt-out")]
    public void Allowed_leak() => _ = WaitAllowedAsync();

    [Test, NoTaskLeaks(IgnoreAsyncMethods = new[] { "*.FixtureLevelTests.WaitIgnoredAsync" })]
    public void Method_level_settings_win() => _ = WaitIgnoredAsync();

    [Test, Repeat(3)]
    public async Task Repeated_clean_test() => await Task.Yield();

    [Test, Retry(2)]
    public async Task Retried_clean_test() => await Task.Yield();

    [Test, CancelAfter(10_000)]
    public async Task Clean_test_with_cancel_after(CancellationToken token) => await Task.Delay(1, token);

    [Test, Timeout(10_000)]
    public void Leak_in_test_with_timeout() => _ = WaitWithTimeoutAsync();

    [Test, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Leak_with_attributes_at_two_levels() => _ = WaitAtTwoLevelsAsync();

    [Test]
    public void Warning_of_its_own() => Assert.Warn("the test's own warning");

    private static async Task WaitInBodyAsync() => await new TaskCompletionSource().Task; // @fixture-body

    private static async Task WaitInTaskRunAsync() => await new TaskCompletionSource().Task; // @fixture-task-run

    private static async Task WaitBeforeThrowingAsync() => await new TaskCompletionSource().Task; // @fixture-throws

    private static async Task WaitBeforeAssertingAsync() => await new TaskCompletionSource().Task; // @fixture-assert

    private static async Task WaitAllowedAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitIgnoredAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitAtTwoLevelsAsync() => await new TaskCompletionSource().Task; // @fixture-two-levels

    private static async Task WaitWithTimeoutAsync() => await new TaskCompletionSource().Task; // @fixture-timeout
}

/// <summary>A fixture that starts work in SetUp and stops it in TearDown leaks nothing.</summary>
[NoTaskLeaks]
public class FixtureLevelTearDownTests
{
    private CancellationTokenSource _stop = new();

    [SetUp]
    public void StartPump()
    {
        _stop = new CancellationTokenSource();
        _ = Pumps.RunUntilCancelledAsync(_stop.Token);
    }

    [TearDown]
    public void StopPump() => _stop.Cancel();

    [Test]
    public void Work_stopped_in_teardown()
    {
    }

    [Test]
    public async Task Async_work_stopped_in_teardown() => await Task.Yield();
}

/// <summary>Work started in OneTimeSetUp belongs to the fixture, not to its tests.</summary>
[NoTaskLeaks(GracePeriodMilliseconds = 100)]
public class OneTimeSetUpTests
{
    private readonly CancellationTokenSource _stop = new();

    [OneTimeSetUp]
    public void StartFixturePump() => _ = Pumps.RunUntilCancelledAsync(_stop.Token);

    [OneTimeTearDown]
    public void StopFixturePump() => _stop.Cancel();

    [Test]
    public async Task First_test() => await Task.Delay(20);

    [Test]
    public async Task Second_test() => await Task.Delay(20);
}

/// <summary>With an instance per test case the check runs after Dispose: work Dispose stops is no leak.</summary>
[NoTaskLeaks(GracePeriodMilliseconds = 100)]
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class InstancePerTestCaseTests : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private bool _keepRunning;

    [SetUp]
    public void StartPump() => _ = PumpUntilDisposedAsync(_stop.Token);

    [Test]
    public void Work_stopped_in_dispose()
    {
    }

    [Test]
    public void Work_not_stopped_in_dispose() => _keepRunning = true;

    public void Dispose()
    {
        if (!_keepRunning)
        {
            _stop.Cancel();
        }
    }

    private static async Task PumpUntilDisposedAsync(CancellationToken token)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, token); // @per-test-dispose
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }
}

/// <summary>Tells the fixture tests which NUnit the program really ran on.</summary>
public class FrameworkVersionTests
{
    [Test]
    public void NUnit_version() => TestContext.Out.WriteLine("nunit.framework " + typeof(Assert).Assembly.GetName().Version);
}
