using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>
/// A delegate task blocked on its thread: its report reads the thread's stack unasked and names the blocking call.
/// Leaves a thread blocked for the rest of the process: run alone, in a process of its own, by tests/NoLeaks.NUnit.Tests.
/// </summary>
[NoTaskLeaks(GracePeriodMilliseconds = 200)]
public class BlockedThreadTests
{
    private static readonly ManualResetEventSlim Never = new();

    [Test]
    public void Delegate_blocked_on_its_thread()
    {
        if (Environment.GetEnvironmentVariable("NOLEAKS_FIXTURE_BLOCKED") != "1")
        {
            Assert.Ignore("leaves a thread blocked: runs alone, in a process of its own (NoLeaks.NUnit.Tests)");
        }

        Thread? worker = null;
        _ = Task.Factory.StartNew(
            () => { Volatile.Write(ref worker, Thread.CurrentThread); Never.Wait(); }, // @nunit-blocked
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        // Ends once the delegate is blocked (its thread waits), so that the report sees it blocked.
        Assert.That(SpinWait.SpinUntil(() => Volatile.Read(ref worker) is { } t && (t.ThreadState & ThreadState.WaitSleepJoin) != 0, 10_000));
    }
}
