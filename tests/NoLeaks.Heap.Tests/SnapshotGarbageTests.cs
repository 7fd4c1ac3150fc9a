using System.Runtime.CompilerServices;
using NoLeaks.Heap;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// A scope's check (a full GC with the finalizers, then a snapshot) sees only live objects. In heap mode async-method
/// boxes are finalizable (the abandoned-method listener), so a box that became garbage is still on the heap after
/// the first GC, until its finalizer has run: the snapshot's own GC is what removes it. Alone in its collection, so
/// that no other test's GCs do the job for it.
/// </summary>
[Collection(nameof(SnapshotGarbageTests))]
[CollectionDefinition(nameof(SnapshotGarbageTests), DisableParallelization = true)]
public class SnapshotGarbageTests
{
    [Fact(Timeout = 60_000)]
    public async Task Pending_work_that_became_garbage_is_not_in_the_snapshot()
    {
        // A heap scope switches the abandoned-method listener on: boxes created from now on are finalizable.
        LeakScope.Begin("listener on", new NoLeaksOptions { Source = LeakSource.Heap }).Dispose();
        var heap = SharedHeap.Get();
        var kept = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var live = StartPending(kept.Task);
        var gen2 = GC.CollectionCount(GC.MaxGeneration);
        StartGarbage();

        // What HeapSource does before each snapshot.
        heap.CollectGarbage();
        var snapshot = heap.Capture();

        Assert.Empty(snapshot.Warnings);
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > gen2, "the snapshot ran no full GC");
        Assert.Contains(snapshot.Operations, o => o.StateMachineType?.Name.Contains(nameof(LiveAsync), StringComparison.Ordinal) == true);
        Assert.DoesNotContain(snapshot.Operations, o => o.StateMachineType?.Name.Contains(nameof(GarbageAsync), StringComparison.Ordinal) == true);
        kept.SetResult();
        await live.WaitAsync(TestContext.Current.CancellationToken);
    }

    // Not inlined: nothing of the garbage may stay on this method's stack.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartGarbage()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = GarbageAsync(never.Task);
    }

    private static Task StartPending(Task task) => LiveAsync(task);

    private static async Task LiveAsync(Task task) => await task;

    private static async Task GarbageAsync(Task task) => await task;
}
