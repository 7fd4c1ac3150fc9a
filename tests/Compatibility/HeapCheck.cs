using NoLeaks;

namespace Compatibility;

/// <summary>
/// A leak found by the heap source (ClrMD, shipped inside the NoLeaks package), with what keeps it alive: the path
/// depends on the test framework (a static here, a synchronization context's GC handle there), so only its presence is
/// checked.
/// </summary>
public static class HeapCheck
{
    public static TaskCompletionSource<int>? Pending;

    public static async Task<LeakReport> RunAsync()
    {
        Pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new NoLeaksOptions
        {
            Source = LeakSource.Heap,
            RetentionBudget = TimeSpan.FromSeconds(5),
            GracePeriod = TimeSpan.FromMilliseconds(100),
        };
        try
        {
            return await LeakDetector.CheckAsync(async () => { _ = WaitAsync(); await Task.Yield(); }, options);
        }
        finally
        {
            Pending.SetResult(1);
        }
    }

    private static async Task<int> WaitAsync() => await Pending!.Task;
}
