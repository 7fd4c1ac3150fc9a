using System.Runtime.CompilerServices;
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
    }

    [Fact]
    public void Clean_report_says_so_in_one_line()
    {
        var report = new LeakReport("T", [], [], LeakAction.Fail, TimeSpan.Zero, ignoredCount: 2);

        Assert.Equal("NoLeaks: no leaked async operations from T (2 allowed by filters)", report.ToString());
        Assert.False(report.ShouldFail);
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
