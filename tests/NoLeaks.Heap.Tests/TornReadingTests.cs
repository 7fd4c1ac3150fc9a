namespace NoLeaks.Heap.Tests;

/// <summary>
/// A GC that runs while the heap is walked moves objects the walk has not reached yet: such a reading misses work.
/// A snapshot is read again until no GC ran during its reading, and says so when every reading was spoiled. The
/// readings are marked spoiled through ProcessHeap's per-thread seam: no GC is forced into the middle of a read.
/// </summary>
public class TornReadingTests
{
    private const int TestTimeout = 60_000;

    [Fact(Timeout = TestTimeout)]
    public async Task A_reading_spoiled_by_a_GC_is_read_again_and_the_second_reading_is_the_snapshot()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = WaitAsync(gate.Task);
        var readings = 0;
        var snapshot = CaptureWith(() => readings++ == 0);
        gate.SetResult();

        Assert.Empty(snapshot.Warnings);
        Assert.Equal(2, readings);
        Assert.Contains(snapshot.Operations, o => o.StateMachineType?.DeclaringType == typeof(TornReadingTests));
        await pending.WaitAsync(TestContext.Current.CancellationToken);
    }

    [Fact(Timeout = TestTimeout)]
    public void A_snapshot_whose_every_reading_a_GC_spoiled_says_so()
    {
        var readings = 0;
        var snapshot = CaptureWith(() =>
        {
            readings++;
            return true;
        });

        Assert.Equal(ProcessHeap.MaxTornReadings, readings);
        var warning = Assert.Single(snapshot.Warnings);
        Assert.Contains("a GC ran while the heap was read", warning, StringComparison.Ordinal);
    }

    /// <summary>A snapshot of the process's heap, each of its readings counted spoiled when <paramref name="spoiled"/> says so.</summary>
    private static HeapSnapshot CaptureWith(Func<bool> spoiled)
    {
        ProcessHeap.SpoilReadingOnThisThread = spoiled;
        try
        {
            return SharedHeap.Get().Capture();
        }
        finally
        {
            ProcessHeap.SpoilReadingOnThisThread = null;
        }
    }

    private static async Task WaitAsync(Task gate)
    {
        await gate;
    }
}
