namespace NoLeaks.Heap.Tests;

/// <summary>
/// Code that runs in a context carrying no AsyncLocal but the scope: when the scope ends, its context becomes the
/// empty one, and only the creation events still tie its work to the scope. The method awaiting the scope's end is
/// then the scope's by creation, yet it waits for the check itself: never a leak.
/// </summary>
public class EmptyContextTests
{
    [Fact(Timeout = 30_000)]
    public async Task The_method_awaiting_the_end_of_the_scope_is_not_reported_when_its_context_is_left_empty()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var result = new TaskCompletionSource<LeakReport>(TaskCreationOptions.RunContinuationsAsynchronously);

        // A thread started without the test's context: its only AsyncLocal value will be the scope.
        var thread = new Thread(() => _ = RunAsync(never.Task, result)) { IsBackground = true };
        thread.UnsafeStart();
        var report = await result.Task.WaitAsync(TestContext.Current.CancellationToken);
        never.SetResult();

        var leak = Assert.Single(report.Leaks);
        Assert.Equal("EmptyContextTests.WaitAsync", leak.Method);
    }

    private static async Task RunAsync(Task never, TaskCompletionSource<LeakReport> result)
    {
        try
        {
            var scope = LeakScope.Begin("empty context", new NoLeaksOptions { Source = LeakSource.Heap, GracePeriod = TimeSpan.FromMilliseconds(200) });
            _ = WaitAsync(never);

            // Suspends here, so this method's box is made while the scope is current.
            await Task.Yield();
            result.SetResult(await scope.EndAsync());
        }
        catch (Exception e)
        {
            result.TrySetException(e);
        }
    }

    private static async Task WaitAsync(Task task) => await task;
}
