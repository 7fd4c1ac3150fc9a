using Microsoft.Diagnostics.Runtime;
using NoLeaks.Heap;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// A large heap is walked by two threads, each over its own segments: they must find what one thread finds. Alone in
/// its collection: it changes the process-wide threshold and counts pending methods of its own type.
/// </summary>
[Collection(nameof(ParallelWalkTests))]
[CollectionDefinition(nameof(ParallelWalkTests), DisableParallelization = true)]
public class ParallelWalkTests
{
    private const int Pending = 200;

    [Fact(Timeout = 60_000)]
    public async Task Two_threads_find_every_pending_method_one_thread_finds()
    {
        var heap = SharedHeap.Get();
        var ballast = new object[400_000];
        for (var i = 0; i < ballast.Length; i++)
        {
            ballast[i] = new byte[24];
        }

        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var methods = Enumerable.Range(0, Pending).Select(_ => WaitAsync(never.Task)).ToList();
        var threshold = ProcessHeap.ParallelWalkBytes;
        try
        {
            // A first snapshot leaves ClrMD's own objects behind: counts compare from the second on.
            heap.Capture();
            ProcessHeap.ParallelWalkBytes = ulong.MaxValue;
            var alone = heap.Capture();
            ProcessHeap.ParallelWalkBytes = 0;
            var together = heap.Capture();
            ProcessHeap.ParallelWalkBytes = ulong.MaxValue;
            var aloneAgain = heap.Capture();

            Assert.Empty(alone.Warnings);
            Assert.Empty(together.Warnings);
            Assert.True(alone.ObjectCount > ballast.Length, $"one thread read only {alone.ObjectCount} objects");
            Assert.Equal(Pending, alone.Operations.Count(IsMine));
            Assert.Equal(Pending, together.Operations.Count(IsMine));
            Assert.Equal(Pending, aloneAgain.Operations.Count(IsMine));
            var (low, high) = (Math.Min(alone.ObjectCount, aloneAgain.ObjectCount), Math.Max(alone.ObjectCount, aloneAgain.ObjectCount));
            Assert.InRange(together.ObjectCount, low * 99 / 100, high * 101 / 100);
        }
        finally
        {
            ProcessHeap.ParallelWalkBytes = threshold;
            never.SetResult();
        }

        await Task.WhenAll(methods).WaitAsync(TestContext.Current.CancellationToken);
        GC.KeepAlive(ballast);
    }

    [Fact]
    public void A_limited_walk_covers_the_first_bytes_of_the_segments_in_their_order()
    {
        MemoryRange[] segments = [new(0x1000, 0x3000), new(0x8000, 0x9000), new(0x20000, 0x30000)];

        Assert.Equal(segments, ProcessHeap.Limited(segments, ulong.MaxValue));
        Assert.Equal(new MemoryRange[] { new(0x1000, 0x3000), new(0x8000, 0x8800) }, ProcessHeap.Limited(segments, 0x2800));
        Assert.Equal(new MemoryRange[] { new(0x1000, 0x3000) }, ProcessHeap.Limited(segments, 0x2000));
        Assert.Empty(ProcessHeap.Limited(segments, 0));
    }

    private static bool IsMine(HeapOperation operation) =>
        operation.StateMachineType?.Name.Contains(nameof(WaitAsync), StringComparison.Ordinal) == true;

    private static async Task WaitAsync(Task task) => await task;
}
