using NoLeaks.Fixtures;
using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>
/// A starved thread pool (suites whose tests block pool threads): the test's own short work gets no thread until 3 s
/// after it was queued, past the 0.5-s grace period. The check waits for it, and the test passes with a warning. Caps
/// the thread pool: run alone, in a process of its own, by tests/NoLeaks.NUnit.Tests.
/// </summary>
[NoTaskLeaks(GracePeriodMilliseconds = 500)]
public class StarvedPoolTests
{
    [Test]
    public void Work_queued_behind_a_starved_pool_passes_once_it_has_run()
    {
        if (!StarvedPool.Wanted)
        {
            Assert.Ignore("caps the thread pool: runs alone, in a process of its own (NoLeaks.NUnit.Tests)");
        }

        StarvedPool.QueueWorkBehindIt(TimeSpan.FromSeconds(3));
    }
}
