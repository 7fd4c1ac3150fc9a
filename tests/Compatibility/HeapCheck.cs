using NoLeaks;

namespace Compatibility;

/// <summary>A leak found by the heap source (ClrMD, shipped inside the NoLeaks package), with its retention path.</summary>
public static class HeapCheck
{
    public static TaskCompletionSource<int>? Pending;

    public static async Task<LeakReport> RunAsync()
    {
        Pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new NoLeaksOptions
        {
            Source = LeakSource.Heap,
            RetentionBudget = TimeSpan.FromSeconds(20),
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
