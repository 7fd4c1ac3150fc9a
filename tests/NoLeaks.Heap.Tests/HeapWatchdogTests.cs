using NoLeaks.Heap;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// A heap read that never ends (a native hang, a lock never released) must let its test go with a failed check, and
/// must not make every later check of the process queue behind it.
/// </summary>
public class HeapWatchdogTests
{
    private const int TestTimeout = 60_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = TestTimeout)]
    public void A_read_that_overruns_its_bound_throws_and_every_later_read_fails_at_once()
    {
        var watchdog = new HeapWatchdog();
        using var release = new ManualResetEventSlim();
        try
        {
            var overrun = Assert.Throws<TimeoutException>(() => watchdog.Run("hung read", TimeSpan.FromMilliseconds(100), () => release.Wait(TimeSpan.FromMinutes(5))));
            Assert.Contains("a heap read (hung read) did not end within", overrun.Message, StringComparison.Ordinal);
            Assert.Equal(overrun.Message, watchdog.HungReason);

            // Not run at all: the read left behind may hold the heap's lock.
            var ran = false;
            var later = Assert.Throws<TimeoutException>(() => watchdog.Run("later read", TimeSpan.FromSeconds(30), () => ran = true));
            Assert.False(ran);
            Assert.Equal(overrun.Message, later.Message);
        }
        finally
        {
            release.Set();
        }
    }

    [Fact(Timeout = TestTimeout)]
    public void A_read_that_ends_returns_its_result_and_its_exception_keeps_its_type()
    {
        var watchdog = new HeapWatchdog();

        Assert.Equal(42, watchdog.Run("quick read", TimeSpan.FromSeconds(30), () => 42));
        var thrown = Assert.Throws<InvalidOperationException>(() => watchdog.Run<int>("failing read", TimeSpan.FromSeconds(30), () => throw new InvalidOperationException("torn")));
        Assert.Equal("torn", thrown.Message);
        Assert.Null(watchdog.HungReason);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_check_whose_heap_read_hangs_fails_the_check_and_the_heap_is_off_for_later_scopes()
    {
        using var release = new ManualResetEventSlim();
        var hang = false;
        // No heap is opened (the hang is in the read itself): opening ClrMD's snapshot can fail while other tests of this
        // process hold one, and then the check reports at once that the heap is unavailable, not that a read hung.
        var source = new HeapSource(open: () => null!, watchdog: new HeapWatchdog())
        {
            ReadBound = TimeSpan.FromMilliseconds(500),
            BeforeRead = () =>
            {
                if (Volatile.Read(ref hang))
                {
                    release.Wait();
                }
            },
        };
        var engine = new LeakEngine(source);
        var options = new NoLeaksOptions { Source = LeakSource.Heap, GracePeriod = TimeSpan.Zero, FailOnCheckError = true };
        try
        {
            // From before the scope begins: the scope's first read may still be on its way when the hang is switched
            // on, and then it is the read that hangs (its bound runs from its start, which is after this).
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var scope = LeakScope.Begin("hung heap read", options, engine);
            Volatile.Write(ref hang, true);
            var report = await scope.EndAsync(cancellationToken: Cancel).AsTask().WaitAsync(TimeSpan.FromSeconds(30), Cancel);

            Assert.Contains("a heap read (leak check) did not end within", report.CheckError ?? report.ToString());
            Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(25));
            Assert.True(report.ShouldFail);

            // The next scope does not wait on the read left behind: the heap says at once why it is not read.
            var next = LeakScope.Begin("after the hang", options, engine);
            var nextReport = await next.EndAsync(cancellationToken: Cancel).AsTask().WaitAsync(TimeSpan.FromSeconds(5), Cancel);
            Assert.Contains("did not end within", nextReport.CheckError);
            Assert.Contains(nextReport.Warnings, w => w.Contains("the heap is not read again in this process", StringComparison.Ordinal));
        }
        finally
        {
            release.Set();
        }
    }
}
