using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>[NoTaskLeaks] on test methods only.</summary>
public class MethodLevelTests
{
    public static IEnumerable<int> Sources => [1, 2];

    [Test, NoTaskLeaks(GracePeriodMilliseconds = 100)]
    public void Leak_in_body() => _ = WaitInBodyAsync();

    [Test]
    public void Leak_without_attribute() => _ = WaitUncheckedAsync();

    // With NOLEAKS_ACTION=off nothing is checked, so the runtime's task tracking (and its cost on every async
    // operation) is never switched on; otherwise this checked test runs with it on.
    [Test, NoTaskLeaks]
    public void Runtime_task_tracking_is_on_only_when_tests_are_checked() =>
        Assert.That(
            (bool)typeof(Task).GetField("s_asyncDebuggingEnabled", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!.GetValue(null)!,
            Is.EqualTo(Environment.GetEnvironmentVariable("NOLEAKS_ACTION") != "off"));

    [Test, NoTaskLeaks]
    public async Task Clean_async_test()
    {
        await Task.Yield();
        await Task.Delay(1);
    }

    [NoTaskLeaks(GracePeriodMilliseconds = 100)]
    [TestCase(1)]
    [TestCase(2)]
    public void Test_case(int number)
    {
        if (number == 1)
        {
            _ = WaitInTestCaseAsync();
        }
    }

    [Test, NoTaskLeaks(GracePeriodMilliseconds = 100)]
    public void Values_test([Values(1, 2)] int number)
    {
        if (number == 2)
        {
            _ = WaitInValuesTestAsync();
        }
    }

    [NoTaskLeaks(GracePeriodMilliseconds = 100)]
    [TestCaseSource(nameof(Sources))]
    public void Source_test(int number)
    {
        if (number == 1)
        {
            _ = WaitInSourceTestAsync();
        }
    }

    [Test, NoTaskLeaks, Ignore("ignored on purpose")]
    public void Ignored_test() => _ = WaitIgnoredAsync();

    [Test, NoTaskLeaks, AllowTaskLeaks("the test is about the opt-out")]
    public void Allowed_leak() => _ = WaitAllowedAsync();

    [Test, NoTaskLeaks(IgnoreAsyncMethods = new[] { "NoLeaks.NUnit.Fixtures.MethodLevelTests.WaitIgnoredByPatternAsync" })]
    public void Leak_ignored_by_pattern() => _ = WaitIgnoredByPatternAsync();

    private static async Task WaitInBodyAsync() => await new TaskCompletionSource().Task; // @method-body

    private static async Task WaitUncheckedAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitInTestCaseAsync() => await new TaskCompletionSource().Task; // @method-test-case

    private static async Task WaitInValuesTestAsync() => await new TaskCompletionSource().Task; // @method-values

    private static async Task WaitInSourceTestAsync() => await new TaskCompletionSource().Task; // @method-source

    private static async Task WaitIgnoredAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitAllowedAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitIgnoredByPatternAsync() => await new TaskCompletionSource().Task;
}

/// <summary>At method level the check still runs after TearDown: work TearDown stops is no leak.</summary>
public class MethodLevelTearDownTests
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

    [Test, NoTaskLeaks]
    public void Work_stopped_in_teardown()
    {
    }
}

/// <summary>At method level work started in SetUp belongs to the test.</summary>
public class MethodLevelSetUpTests
{
    [SetUp]
    public void StartWork() => _ = WaitFromSetUpAsync();

    [Test, NoTaskLeaks(GracePeriodMilliseconds = 100)]
    public void Leak_from_setup()
    {
    }

    private static async Task WaitFromSetUpAsync() => await new TaskCompletionSource().Task; // @method-setup
}
