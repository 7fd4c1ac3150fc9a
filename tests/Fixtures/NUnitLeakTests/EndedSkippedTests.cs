using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>
/// Tests that end ignored or inconclusive at run time: not checked, and not counted in the run summary, as the runner
/// counts them skipped. Run on their own by tests/NoLeaks.NUnit.Tests, which reads the summary's count.
/// </summary>
[NoTaskLeaks(GracePeriodMilliseconds = 100)]
public class EndedSkippedTests
{
    private static readonly TaskCompletionSource Never = new();

    [Test]
    public void Clean_test()
    {
        Assert.Pass();
    }

    [Test]
    public async Task Leak_in_body()
    {
        _ = WaitAsync();
        await Task.Yield();
    }

    [Test]
    public void Ignored_at_run_time()
    {
        Assert.Ignore("decided at run time");
    }

    [Test]
    public void Inconclusive_at_run_time()
    {
        Assert.Inconclusive("decided at run time");
    }

    [Test]
    public void Ignored_after_starting_work()
    {
        _ = WaitAsync();
        Assert.Ignore("decided at run time, after starting work");
    }

    private static async Task WaitAsync() => await Never.Task; // @ended-skipped-wait
}
