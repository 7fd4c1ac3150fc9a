using System.Runtime.CompilerServices;
using NoLeaks.Reporting;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Reporting;

public class TextReportTests
{
    private static async Task OuterAsync(Task never) => await InnerAsync(never); // @outer

    private static async Task InnerAsync(Task never) => await never; // @inner

    [Fact(Timeout = 30_000)]
    public async Task Report_names_method_site_wait_chain_creator_age_and_test()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("OrderTests.Saves_order", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
        _ = OuterAsync(never.Task);
        _ = OuterAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);
        never.SetResult();

        var lines = report.ToString().Split(Environment.NewLine);
        Assert.Equal("NoLeaks: 2 leaked async operations from OrderTests.Saves_order in 1 distinct stack (still pending after a grace period of 0.00 s)", lines[0]);
        Assert.Equal($"[1] (x2) TextReportTests.InnerAsync  suspended at {SourceLine.At("inner")}", lines[2]);
        Assert.Equal("      waiting on  TaskCompletionSource.Task", lines[3]);
        Assert.Equal($"      awaited by  TextReportTests.OuterAsync  at {SourceLine.At("outer")}", lines[4]);
        Assert.Matches(@"^      created by  test OrderTests\.Saves_order, \d+\.\d\d s ago$", lines[5]);
        Assert.Contains(
            "Allow it: [NoTaskLeaks(IgnoreAsyncMethods = new[] { \"NoLeaks.Tests.Reporting.TextReportTests.InnerAsync\" })], "
            + "or Ignore.AsyncMethod(\"NoLeaks.Tests.Reporting.TextReportTests.InnerAsync\") in NoLeaksOptions.Ignore.",
            report.ToString());
        Assert.DoesNotContain("NOLEAKS_THREAD_STACKS", report.ToString()); // no running delegate: no stacks to read
    }

    private static void StartDelayed(CancellationToken token)
    {
        Func<Task> start = async () =>
            await Task.Delay(TimeSpan.FromHours(1), token).ContinueWith(_ => { }, TaskScheduler.Default); // @delayed
        _ = start();
    }

    [Fact(Timeout = 30_000)]
    public async Task Two_lambdas_of_one_method_in_one_chain_are_told_apart()
    {
        using var cancel = new CancellationTokenSource();
        var scope = LeakScope.Begin("SchedulerTests.Starts_delayed", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
        StartDelayed(cancel.Token);
        var report = await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);
        await cancel.CancelAsync();

        var lines = report.ToString().Split(Environment.NewLine);
        Assert.Equal($"[1] TextReportTests.StartDelayed (lambda)  ContinueWith continuation, not started, defined at {SourceLine.At("delayed")}", lines[2]);
        Assert.Equal($"      awaited by  TextReportTests.StartDelayed (another lambda)  at {SourceLine.At("delayed")}", lines[4]);
    }

    [Fact]
    public void Recursion_keeps_its_name_and_only_a_different_method_of_the_same_name_is_told_apart()
    {
        var lambda = new AsyncFrame("Scheduler.Start (lambda)", "Shop.Scheduler.Start", null) { Code = "m:1" };
        var other = new AsyncFrame("Scheduler.Start (lambda)", "Shop.Scheduler.Start", null) { Code = "m:2" };
        var overload = new AsyncFrame("Scheduler.Run", "Shop.Scheduler.Run", null) { Code = "<Run>d__1" };
        var otherOverload = new AsyncFrame("Scheduler.Run", "Shop.Scheduler.Run", null) { Code = "<Run>d__2" };

        Assert.Equal("Scheduler.Start (lambda)", TextReport.NameBeside(lambda, lambda));
        Assert.Equal("Scheduler.Start (another lambda)", TextReport.NameBeside(other, lambda));
        Assert.Equal("Scheduler.Run (another overload)", TextReport.NameBeside(otherOverload, overload));
        Assert.Equal("Scheduler.Run", TextReport.NameBeside(overload, lambda));
    }

    [Fact]
    public void A_frame_without_a_PDB_is_named_without_a_line()
    {
        var leak = new TaskLeak(
            LeakKind.AsyncMethod,
            new AsyncFrame("OrderPump.ExecuteAsync", "Shop.OrderPump.ExecuteAsync", new AwaitSite("/src/Shop/OrderPump.cs", 38, 0)),
            [new AsyncFrame("Host.TryExecuteBackgroundServiceAsync", "Microsoft.Extensions.Hosting.Internal.Host.TryExecuteBackgroundServiceAsync", new AwaitSite(null, 0, 0))],
            "Task.Delay(Timeout.Infinite)", "test T", null, "T", null, 1);
        var report = new LeakReport("T", [leak], [], LeakAction.Fail, TimeSpan.FromSeconds(1), 0, TimeSpan.FromSeconds(1));

        Assert.Contains($"{Environment.NewLine}      awaited by  Host.TryExecuteBackgroundServiceAsync{Environment.NewLine}", report.ToString());
    }

    [Fact]
    public void Clean_report_says_so_in_one_line()
    {
        var report = new LeakReport("T", [], [], LeakAction.Fail, TimeSpan.Zero, ignoredCount: 2);

        Assert.Equal("NoLeaks: no leaked async operations from T (2 allowed by filters)", report.ToString());
        Assert.False(report.ShouldFail);
    }

    [Fact]
    public void Work_that_can_never_resume_reported_after_the_grace_period_says_the_wait_was_for_other_work()
    {
        // The stuck check freed this work at once, but the test's other work was pending then: the report came when the
        // grace period ended, after that other work had ended. It is not "still pending after a grace period".
        var stuck = new TaskLeak(
            LeakKind.AsyncMethod, new AsyncFrame("Channel.OnTerminatedAsync", "Shop.Channel.OnTerminatedAsync", null), [],
            "TaskCompletionSource.Task", "test T", null, "T", null, 1, verdict: NoLeaks.Tracking.StuckCheck.Verdict);
        var report = new LeakReport("T", [stuck], [], LeakAction.Fail, TimeSpan.FromSeconds(1.01), 0, TimeSpan.FromSeconds(1));

        Assert.Equal(
            "NoLeaks: 1 leaked async operation from T (nothing can ever resume it: reported after the grace period of 1.00 s, waited for other work of the test that has since ended)",
            report.ToString().Split(Environment.NewLine)[0]);
    }

    [Fact]
    public void Several_operations_that_can_never_resume_are_them()
    {
        var stuck = new TaskLeak(
            LeakKind.AsyncMethod, new AsyncFrame("Channel.OnTerminatedAsync", "Shop.Channel.OnTerminatedAsync", null), [],
            "TaskCompletionSource.Task", "test T", null, "T", null, 2, verdict: NoLeaks.Tracking.StuckCheck.Verdict);
        var report = new LeakReport("T", [stuck], [], LeakAction.Fail, TimeSpan.FromSeconds(0.2), 0, TimeSpan.FromSeconds(1));

        Assert.Equal(
            "NoLeaks: 2 leaked async operations from T in 1 distinct stack (nothing can ever resume them: reported at once, without waiting the grace period of 1.00 s)",
            report.ToString().Split(Environment.NewLine)[0]);
    }

    [Fact]
    public void A_wait_extended_past_the_grace_period_says_how_long_it_waited_in_all()
    {
        // A starved thread pool extends the wait (up to 10 s more): the headline does not claim the grace period alone.
        var queued = new TaskLeak(
            LeakKind.DelegateTask, new AsyncFrame("Tests.Run (lambda)", "Shop.Tests.Run", null), [],
            "nothing: it is queued for a thread of the pool", "test T", null, "T", null, 1);
        var extended = new LeakReport("T", [queued], [], LeakAction.Fail, TimeSpan.FromSeconds(10.5), 0, TimeSpan.FromSeconds(1));
        var plain = new LeakReport("T", [queued], [], LeakAction.Fail, TimeSpan.FromSeconds(1.3), 0, TimeSpan.FromSeconds(1));

        Assert.Equal(
            "NoLeaks: 1 leaked async operation from T (still pending after a grace period of 1.00 s, 10.50 s waited in all)",
            extended.ToString().Split(Environment.NewLine)[0]);
        Assert.Equal(
            "NoLeaks: 1 leaked async operation from T (still pending after a grace period of 1.00 s)",
            plain.ToString().Split(Environment.NewLine)[0]);
    }

    [Fact]
    public void Await_sites_print_the_full_path_and_a_deterministic_build_s_path_from_the_repository_root()
    {
        var thisFile = ThisFile();

        Assert.Equal($"{thisFile}:42", new AwaitSite(thisFile, 42, 0).ToString());
        Assert.Equal("src/Shop/OrderQueue.cs:43", new AwaitSite("/_/src/Shop/OrderQueue.cs", 43, 0).ToString());
        Assert.Equal("await #2 (no PDB)", new AwaitSite(null, 0, 2).ToString());
        Assert.Equal($"OrderQueue.PumpAsync at {thisFile}:42", new AsyncFrame("OrderQueue.PumpAsync", "Shop.OrderQueue.PumpAsync", new AwaitSite(thisFile, 42, 0)).ToString());
    }

    private static string ThisFile([CallerFilePath] string file = "") => file;
}
