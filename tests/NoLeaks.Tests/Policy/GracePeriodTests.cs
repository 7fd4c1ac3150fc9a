using System.Diagnostics;
using NoLeaks.Policy;

namespace NoLeaks.Tests.Policy;

/// <summary>The grace period's wait past its length (used for work queued on a starved thread pool).</summary>
public class GracePeriodTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static LeakReport Report(string name) => new(name, [], [], LeakAction.Fail, TimeSpan.Zero, 0);

    /// <summary>A 20 ms wait whose final report is named "final", with the extension under test.</summary>
    private static GracePeriod Start(Func<LeakReport?> check, Func<bool> extend, TimeSpan maxExtension, CancellationToken? cancellation = null, Action? onFinal = null) =>
        GracePeriod.Start(
            check,
            final: () =>
            {
                onFinal?.Invoke();
                return Report("final");
            },
            failed: e => throw e,
            length: TimeSpan.FromMilliseconds(20),
            cancellation: cancellation ?? Cancel,
            extend: extend,
            maxExtension: maxExtension);

    /// <summary>Counts its calls and returns the same answer each time.</summary>
    private sealed class Counted(bool answer)
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public bool Call()
        {
            Interlocked.Increment(ref _calls);
            return answer;
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_wait_that_is_extended_goes_on_checking_and_ends_with_the_check_that_finds_nothing()
    {
        var extend = new Counted(true);
        var finals = 0;
        var wait = Start(
            check: () => extend.Calls >= 3 ? Report("clean after the grace period") : null,
            extend.Call,
            maxExtension: TimeSpan.FromSeconds(20),
            onFinal: () => Interlocked.Increment(ref finals));

        var report = await wait.Task.WaitAsync(Cancel);

        Assert.Equal("clean after the grace period", report.ScopeName);
        Assert.Equal(0, finals);
        Assert.True(extend.Calls >= 3, $"extended {extend.Calls} times");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task An_extension_ends_at_its_longest_with_the_final_report()
    {
        var clock = Stopwatch.StartNew();
        var wait = Start(check: () => null, extend: () => true, maxExtension: TimeSpan.FromMilliseconds(300));

        var report = await wait.Task.WaitAsync(Cancel);

        Assert.Equal("final", report.ScopeName);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(320), TimeSpan.FromSeconds(10));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_wait_not_extended_ends_with_the_final_report_at_its_length()
    {
        var extend = new Counted(false);
        var wait = Start(check: () => null, extend.Call, maxExtension: TimeSpan.FromSeconds(20));

        var report = await wait.Task.WaitAsync(Cancel);

        Assert.Equal("final", report.ScopeName);
        Assert.Equal(1, extend.Calls);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Cancellation_ends_an_extended_wait_at_once()
    {
        using var cut = new CancellationTokenSource();
        var wait = Start(
            check: () => null,
            extend: () =>
            {
                cut.Cancel();
                return true;
            },
            maxExtension: TimeSpan.FromSeconds(20),
            cancellation: cut.Token);

        var report = await wait.Task.WaitAsync(TimeSpan.FromSeconds(10), Cancel);

        Assert.Equal("final", report.ScopeName);
    }
}
