namespace NoLeaks.Tests;

public class Smoke
{
    private static TaskCompletionSource<int>? s_never;

    [Fact(Timeout = 10_000)]
    public async Task Report()
    {
        var scope = LeakScope.Begin("Smoke.Report", new NoLeaksOptions { GracePeriod = TimeSpan.FromMilliseconds(50) });
        s_never = new TaskCompletionSource<int>();
        _ = Outer();
        var report = await scope.EndAsync();
        TestContext.Current.TestOutputHelper!.WriteLine(report.ToString());
        s_never.SetResult(1);
        Assert.False(report.IsClean);
    }

    private static async Task Outer() => await Inner();

    private static async Task<int> Inner() => await s_never!.Task;
}
