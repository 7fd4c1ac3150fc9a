namespace NoLeaks.Heap;

/// <summary>What a pending object found on the heap is.</summary>
internal enum HeapObjectKind : byte
{
    /// <summary>An <c>AsyncTaskMethodBuilder&lt;T&gt;.AsyncStateMachineBox&lt;TStateMachine&gt;</c> (async Task, ValueTask, void methods).</summary>
    AsyncBox,

    /// <summary>A <c>PoolingAsyncValueTaskMethodBuilder&lt;T&gt;.StateMachineBox&lt;TStateMachine&gt;</c>: an IValueTaskSource, not a Task.</summary>
    PoolingBox,

    /// <summary>A task with a delegate: Task.Run, StartNew.</summary>
    DelegateTask,

    /// <summary>A ContinueWith continuation task.</summary>
    Continuation,

    /// <summary>A task with no delegate: TaskCompletionSource, Task.Delay, WhenAll …</summary>
    Promise,

    /// <summary>The task of a .NET 11 runtime-async method (its delegate is the runtime's DispatchContinuations).</summary>
    RuntimeAsyncTask,
}

/// <summary>One unfinished task or state-machine box as read from the heap; addresses are valid for one snapshot.</summary>
internal sealed class HeapOperation
{
    public ulong Address { get; init; }

    public HeapObjectKind Kind { get; init; }

    /// <summary>The object's live runtime type.</summary>
    public Type? Type { get; init; }

    /// <summary><c>Task.m_taskId</c>: 0 until someone asked for the id.</summary>
    public int TaskId { get; init; }

    /// <summary><c>Task.m_stateFlags</c> (0 for pooling boxes).</summary>
    public int StateFlags { get; init; }

    public Type? StateMachineType { get; init; }

    /// <summary>The state machine object when it is a class (Debug builds, async iterators), else 0.</summary>
    public ulong StateMachineObject { get; init; }

    /// <summary><c>&lt;&gt;1__state</c>, or -1.</summary>
    public int State { get; init; } = -1;

    /// <summary>The task or value-task source the current awaiter holds, or 0.</summary>
    public ulong Awaited { get; init; }

    /// <summary>True when the only awaiter in use is a <c>Task.Yield()</c> awaiter.</summary>
    public bool AwaitsYield { get; init; }

    /// <summary>
    /// The operations that continue when this one completes (boxes, tasks). Read on first use, from the snapshot's
    /// heap: following wrappers costs ClrMD calls, and most pending objects of a snapshot are nobody's concern.
    /// </summary>
    public IReadOnlyList<ulong> Continuations => _continuations ??= ContinuationObject == 0 || ReadContinuations is null ? [] : ReadContinuations(ContinuationObject);

    private ulong[]? _continuations;

    /// <summary>The raw continuation field (<c>m_continuationObject</c>, or a pooling box's continuation state), or 0.</summary>
    public ulong ContinuationObject { get; init; }

    /// <summary>Reads <see cref="Continuations"/> from <see cref="ContinuationObject"/>.</summary>
    public Func<ulong, ulong[]>? ReadContinuations { get; init; }

    /// <summary>The captured ExecutionContext, or 0.</summary>
    public ulong Context { get; init; }

    /// <summary>The delegate of a delegate or continuation task, or 0.</summary>
    public ulong Delegate { get; init; }

    /// <summary>The antecedent of a continuation task, or 0.</summary>
    public ulong Antecedent { get; init; }

    public bool IsRunning => (StateFlags & ProcessHeap.TaskStateDelegateInvoked) != 0;

    /// <summary>Running, queued, or waiting for activation (a continuation whose antecedent has not completed).</summary>
    public Analysis.OperationActivity Activity =>
        IsRunning ? Analysis.OperationActivity.Running
        : (StateFlags & ProcessHeap.TaskStateWaitingForActivation) != 0 ? Analysis.OperationActivity.NotStarted
        : (StateFlags & ProcessHeap.TaskStateStarted) != 0 ? Analysis.OperationActivity.Queued
        : Analysis.OperationActivity.Unknown;

    /// <summary>Every address that names this operation: the box and a class state machine.</summary>
    public IEnumerable<ulong> Addresses => StateMachineObject == 0 ? [Address] : [Address, StateMachineObject];
}

/// <summary>The pending async work on the heap at one moment.</summary>
internal sealed class HeapSnapshot
{
    public HeapSnapshot(List<HeapOperation> operations, List<string> warnings, long objects, int torn, TimeSpan elapsed)
    {
        Operations = operations;
        Warnings = warnings;
        ObjectCount = objects;
        TornObjects = torn;
        Elapsed = elapsed;
        ByAddress = new Dictionary<ulong, HeapOperation>(operations.Count);
        foreach (var operation in operations)
        {
            foreach (var address in operation.Addresses)
            {
                ByAddress.TryAdd(address, operation);
            }
        }
    }

    public IReadOnlyList<HeapOperation> Operations { get; }

    public Dictionary<ulong, HeapOperation> ByAddress { get; }

    /// <summary>What went wrong while reading (empty when the snapshot is whole).</summary>
    public IReadOnlyList<string> Warnings { get; }

    public long ObjectCount { get; }

    public int TornObjects { get; }

    public TimeSpan Elapsed { get; }

    /// <summary>The GC count when the snapshot was read: addresses are valid while it has not changed.</summary>
    public int GcCount { get; init; }
}
