using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NoLeaks.Tracking;

/// <summary>
/// Decides, with the garbage collector, whether leaked work can never resume: an operation that nothing in the process
/// can reach any more (no static, no handle, no thread's stack or register, no timer, no queue, no finalizable object)
/// can never be completed or resumed by anyone. The runtime's task tracking holds every pending task, so the check lets
/// go of the leaked ones for one full blocking collection, under the runtime's lock on its record, and puts back those
/// that survive. The collector sees every root precisely, so "collected" is never wrong; what survives may still be
/// stuck, and is left to the grace period.
/// </summary>
internal static class StuckCheck
{
    /// <summary>The environment variable that switches the check off for a run (<c>0</c>).</summary>
    internal const string Variable = "NOLEAKS_STUCK_CHECK";

    /// <summary>False when <c>NOLEAKS_STUCK_CHECK=0</c>.</summary>
    internal static bool EnabledByEnvironment { get; } = Environment.GetEnvironmentVariable(Variable)?.Trim() != "0";

    /// <summary>What holds work the check found collected (the report's "held by").</summary>
    internal const string HeldBy = "nothing — a full garbage collection freed it";

    /// <summary>What a report says of work the check found collected.</summary>
    internal const string Verdict =
        "can never resume: nothing in the process can reach it any more (a full garbage collection freed it), so nothing can complete what it awaits";

    /// <summary>
    /// For each object in <paramref name="objects"/>, whether a full blocking collection freed it while it was still
    /// pending: true or false for a task that was pending, null for any other object (not judged: an unoptimized async
    /// method's state machine, a pooled box) and for a task found completed; the whole result is null when the check
    /// cannot run here, or when a task among the work in question has completed since the check that chose it (then
    /// nothing was collected, and <paramref name="why"/> says why). Takes the list out of the box
    /// and clears it: the caller must hold no other reference to these objects, or they survive. The first
    /// <paramref name="decisive"/> objects are the work in question; the others (the tasks that hold it) are let go
    /// with it but need not be freed.
    /// <para>
    /// Freed is not enough: work that completes just before the collection is freed too. So only tasks count, and the
    /// runtime's lock on its record is held from a last look at each task's state until after the collection: a task
    /// that completes after that look takes itself out of the record, and waits for the lock with the task on its
    /// thread's stack, where the collector sees it. A task found completed, and any object that is not a task, is
    /// never reported freed: it is not judged at all, and the caller decides from the tasks.
    /// </para>
    /// </summary>
    public static bool?[]? Collected(RuntimeTaskTracking tracking, StrongBox<List<object>?> objects, int decisive, out string? why)
    {
        if (!tracking.HookInstalled || tracking.Gate is not Dictionary<int, Task> active)
        {
            why = "the runtime's task record is not NoLeaks' own (the creation hook is not in use)";
            return null;
        }

        why = null;
        GCHandle[] handles = [];
        bool[] removed = [];
        lock (active)
        {
            try
            {
                bool[] pending;
                bool moved;
                (handles, removed, pending, moved) = LetGo(tracking, objects, decisive);
                if (moved)
                {
                    // The work moved on since the check that chose it (a queued delegate ran, and what it started is
                    // not what was judged): its picture is stale, and what it left may be freed with the rest unseen.
                    // The grace period's checks see it as it is now.
                    why = "the work completed part of its chain after the check that chose it";
                    return null;
                }

                // Work a test just left behind is young: a collection of the young generations (which counts every
                // older object as alive, so it can only keep too much) usually frees it in a few milliseconds,
                // whatever the size of the heap. Only when something pending survives does a full collection decide.
                GC.Collect(1, GCCollectionMode.Forced, blocking: true, compacting: false);
                if (Survivors(handles, pending, decisive) > 0)
                {
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
                }

                var collected = new bool?[handles.Length];
                for (var i = 0; i < handles.Length; i++)
                {
                    collected[i] = pending[i] ? handles[i].Target is null : null;
                }

                return collected;
            }
            finally
            {
                Restore(tracking, handles, removed);
                foreach (var handle in handles)
                {
                    if (handle.IsAllocated)
                    {
                        handle.Free();
                    }
                }
            }
        }
    }

    /// <summary>
    /// Takes the runtime's record of each task out, and keeps only weak handles (that follow an object through
    /// finalization: an object a finalizer can still reach counts as reachable). In a frame of its own, so that no
    /// strong reference outlives it on the checking thread's stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (GCHandle[] Handles, bool[] Removed, bool[] Pending, bool Moved) LetGo(RuntimeTaskTracking tracking, StrongBox<List<object>?> box, int decisive)
    {
        var objects = box.Value ?? [];
        box.Value = null;
        var handles = new GCHandle[objects.Count];
        var removed = new bool[objects.Count];
        var pending = new bool[objects.Count];
        var moved = false;
        for (var i = 0; i < objects.Count; i++)
        {
            handles[i] = GCHandle.Alloc(objects[i], GCHandleType.WeakTrackResurrection);
            pending[i] = objects[i] is Task { IsCompleted: false };
            removed[i] = objects[i] is Task task && tracking.RemoveLocked(task);

            // Every task among the work in question was pending when the check chose it.
            moved |= i < decisive && objects[i] is Task { IsCompleted: true };
        }

        objects.Clear();
        return (handles, removed, pending, moved);
    }

    private static int Survivors(GCHandle[] handles, bool[] pending, int decisive)
    {
        var survivors = 0;
        for (var i = 0; i < Math.Min(decisive, handles.Length); i++)
        {
            if (pending[i] && handles[i].Target is not null)
            {
                survivors++;
            }
        }

        return survivors;
    }

    /// <summary>Puts back in the runtime's record every task taken out that survived and is still pending.</summary>
    private static void Restore(RuntimeTaskTracking tracking, GCHandle[] handles, bool[] removed)
    {
        for (var i = 0; i < handles.Length; i++)
        {
            if (removed[i] && handles[i].IsAllocated && handles[i].Target is Task { IsCompleted: false } task)
            {
                tracking.AddBackLocked(task);
            }
        }
    }
}
