namespace NoLeaks.Tests;

public class LeakDetectorTests
{
    private const int TestTimeout = 30_000;

    private static readonly NoLeaksOptions Quick = new() { GracePeriod = TimeSpan.FromMilliseconds(50) };

    private static async Task AwaitAsync(Task never) => await never;

    [Fact(Timeout = TestTimeout)]
    public async Task Leaking_body_throws_TaskLeakException_with_the_report()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var thrown = await Assert.ThrowsAsync<TaskLeakException>(() => LeakDetector.VerifyNoneAsync(async () => { _ = AwaitAsync(never.Task); }, Quick));
        never.SetResult();

        Assert.Equal(thrown.Report.ToString(), thrown.Message);
        Assert.Contains("LeakDetectorTests.AwaitAsync", thrown.Message);
        Assert.Contains("from LeakDetectorTests.Leaking_body_throws_TaskLeakException_with_the_report", thrown.Message);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Clean_body_returns_a_clean_report()
    {
        var report = await LeakDetector.VerifyNoneAsync(async () => await Task.Yield(), Quick);

        Assert.True(report.IsClean);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Failing_body_keeps_its_own_exception_and_carries_the_report()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => LeakDetector.VerifyNoneAsync(async () =>
        {
            _ = AwaitAsync(never.Task);
            throw new InvalidOperationException("the test's own failure");
        }, Quick));
        never.SetResult();

        Assert.Equal("the test's own failure", thrown.Message);
        Assert.Contains("LeakDetectorTests.AwaitAsync", (string)thrown.Data[LeakDetector.ReportDataKey]!);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Warn_returns_the_report_instead_of_throwing()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var report = await LeakDetector.VerifyNoneAsync(
            async () => { _ = AwaitAsync(never.Task); },
            new NoLeaksOptions { GracePeriod = TimeSpan.Zero, Action = LeakAction.Warn });
        never.SetResult();

        Assert.Single(report.Leaks);
        Assert.False(report.ShouldFail);
    }
}
