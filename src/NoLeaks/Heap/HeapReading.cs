using System.Reflection;
using NoLeaks.Analysis;

namespace NoLeaks.Heap;

/// <summary>The identity of a heap object in the snapshot it was read from (one instance per address and snapshot).</summary>
internal sealed class HeapKey(ulong address, HeapSnapshot snapshot)
{
    public ulong Address { get; } = address;

    public HeapSnapshot Snapshot { get; } = snapshot;

    public override string ToString() => $"0x{Address:x}";
}

/// <summary>Turns a heap snapshot into a scope's pending operations.</summary>
internal static class HeapReading
{
    /// <summary>
    /// The scope's operations, or null when a GC ran while they were read (the addresses are then stale and the
    /// caller reads a new snapshot).
    /// </summary>
    /// <param name="heap">The heap the snapshot was read from.</param>
    /// <param name="snapshot">The snapshot, while its addresses are valid.</param>
    /// <param name="scope">The scope whose work is wanted (with its unended descendants).</param>
    /// <param name="began">When the scope began: the upper bound of its work's age.</param>
    /// <param name="creatorOf">The heap scope that created a task, by task id (0: unknown): the owner of work that
    /// carries no ExecutionContext.</param>
    /// <param name="foreignMethods">Receives the state-machine types of pending methods that are not the scope's.</param>
    public static List<PendingOperation> ToPendingOperations(
        ProcessHeap heap, HeapSnapshot snapshot, LeakScope scope, long began, Func<int, long>? creatorOf = null, ISet<Type>? foreignMethods = null)
        {
            var owners = scope.SelfAndUnendedDescendants().Select(s => s.Id).ToHashSet();
            var scopeOfContext = new Dictionary<ulong, long>();
            var emptyContexts = new Dictionary<ulong, bool>();
            bool IsEmpty(ulong context) => emptyContexts.TryGetValue(context, out var empty)
                ? empty
                : emptyContexts[context] = Safely(() => heap.IsEmptyContext(context), false);
            var included = new HashSet<HeapOperation>();
            var queue = new Queue<HeapOperation>();
            foreach (var operation in snapshot.Operations)
            {
                long id = 0;
                if (operation.Context != 0 && !scopeOfContext.TryGetValue(operation.Context, out id))
                {
                    scopeOfContext[operation.Context] = id = Safely(() => heap.ScopeIdIn(operation.Context), 0L);
                }

                // No context, or an empty one (a pool thread running work started under SuppressFlow has the default
                // context): the scope's when the creation events say one of its scopes made it. A context that carries
                // values but not the scope is not: the scope was left there (code running after it ended).
                if (id == 0 && creatorOf is not null && operation.TaskId != 0
                    && (operation.Context == 0 || IsEmpty(operation.Context)))
                {
                    id = creatorOf(operation.TaskId);
                }

                if (id != 0 && owners.Contains(id) && included.Add(operation))
                {
                    queue.Enqueue(operation);
                }
            }

            // Work without a captured context that the scope's work awaits is the scope's too (promises, WhenAll,
            // and work started under SuppressFlow that the scope awaits).
            while (queue.Count > 0)
            {
                var operation = queue.Dequeue();
                foreach (var below in new[] { operation.Awaited, operation.Antecedent })
                {
                    if (below != 0 && snapshot.ByAddress.TryGetValue(below, out var awaited) && awaited.Context == 0 && included.Add(awaited))
                    {
                        queue.Enqueue(awaited);
                    }
                }
            }

            var keys = new Dictionary<ulong, HeapKey>();
            HeapKey Key(ulong address) => keys.TryGetValue(address, out var key) ? key : keys[address] = new HeapKey(address, snapshot);

            var result = new List<PendingOperation>(included.Count);
            var names = new Dictionary<AwaitedObject, string>();
            foreach (var operation in snapshot.Operations)
            {
                if (included.Contains(operation))
                {
                    result.Add(ToPendingOperation(heap, snapshot, operation, Key, names, scope.Name, began));
                }
                else if (foreignMethods is not null && operation.StateMachineType is { } type)
                {
                    foreignMethods.Add(type);
                }
            }

            return result;
        }

    /// <summary>
    /// Every pending operation of a snapshot, whoever owns it: the view of a whole process (the <c>noleaks</c> command).
    /// </summary>
    public static List<PendingOperation> AllPendingOperations(ProcessHeap heap, HeapSnapshot snapshot, string processName)
    {
        var keys = new Dictionary<ulong, HeapKey>();
        HeapKey Key(ulong address) => keys.TryGetValue(address, out var key) ? key : keys[address] = new HeapKey(address, snapshot);
        var result = new List<PendingOperation>(snapshot.Operations.Count);
        var names = new Dictionary<AwaitedObject, string>();
        foreach (var operation in snapshot.Operations)
        {
            result.Add(ToPendingOperation(heap, snapshot, operation, Key, names, processName, began: 0));
        }

        return result;
    }

    /// <summary>
    /// True when two readings of a scope's work found the same operations in the same states: the same kinds of work,
    /// running the same code, suspended at the same awaits on the same kinds of things. Compared without addresses, so
    /// a GC between the readings does not matter.
    /// </summary>
    public static bool SameWork(List<PendingOperation> first, List<PendingOperation> second)
    {
        if (first.Count != second.Count)
        {
            return false;
        }

        var counts = new Dictionary<(OperationKind, Type?, MethodBase?, int, string), int>(first.Count);
        foreach (var operation in first)
        {
            var signature = Signature(operation);
            counts[signature] = counts.GetValueOrDefault(signature) + 1;
        }

        foreach (var operation in second)
        {
            var signature = Signature(operation);
            if (!counts.TryGetValue(signature, out var count) || count == 0)
            {
                return false;
            }

            counts[signature] = count - 1;
        }

        return true;
    }

    private static (OperationKind Kind, Type? StateMachine, MethodBase? Delegate, int State, string WaitingOn) Signature(PendingOperation operation) =>
        (operation.Kind, operation.StateMachineType, operation.DelegateMethod, operation.State, operation.WaitingOn);

    /// <summary>ClrMD throws on objects that changed while read (torn): that reading counts as unknown, not as a failure.</summary>
    private static T Safely<T>(Func<T> read, T fallback)
    {
        try
        {
            return read();
        }
        catch (Exception)
        {
            return fallback;
        }
    }

    private static PendingOperation ToPendingOperation(
        ProcessHeap heap, HeapSnapshot snapshot, HeapOperation operation, Func<ulong, HeapKey> key, Dictionary<AwaitedObject, string> names, string scopeName, long began)
    {
        var kind = operation.Kind switch
        {
            HeapObjectKind.AsyncBox or HeapObjectKind.PoolingBox => OperationKind.AsyncMethod,
            HeapObjectKind.DelegateTask => OperationKind.DelegateTask,
            HeapObjectKind.Continuation => OperationKind.Continuation,
            HeapObjectKind.RuntimeAsyncTask => OperationKind.RuntimeAsyncMethod,
            _ => OperationKind.Promise,
        };

        string waitingOn;
        var awaited = operation.Awaited;
        var activity = OperationActivity.Unknown;
        AwaitedObject? awaitedObject = null;

        // Read once per operation: the description and whether a timer will fire both come from it.
        string Described(ulong address, string unreadable)
        {
            awaitedObject = Safely(() => heap.AwaitedObjectAt(snapshot, address), null);
            if (awaitedObject is not { } known)
            {
                return unreadable;
            }

            // Named once per kind of awaited object: thousands of operations often wait on the same kind, and noleaks
            // reads them while the process stays suspended.
            if (!names.TryGetValue(known, out var name))
            {
                names[known] = name = AwaitedNames.Describe(known);
            }

            return name;
        }

        switch (kind)
        {
            case OperationKind.AsyncMethod when operation.State == -1:
                activity = OperationActivity.Running;
                waitingOn = "nothing: it is running";
                break;
            case OperationKind.AsyncMethod:
                waitingOn = awaited != 0 ? Described(awaited, "an object that could not be read")
                    : operation.AwaitsYield ? "Task.Yield()"
                    : "an awaiter it does not expose";
                break;
            case OperationKind.Continuation:
                awaited = operation.Antecedent;
                activity = operation.Activity;
                waitingOn = activity switch
                {
                    OperationActivity.Running => "nothing: it is running",
                    OperationActivity.Queued => "a thread to run on (queued, not started)",
                    _ when awaited == 0 => "its antecedent",
                    _ => $"its antecedent, {Described(awaited, "an object that could not be read")}",
                };
                break;
            case OperationKind.RuntimeAsyncMethod:
                // Its innermost frame's continuation is read live only (RuntimeAsyncTasks), not from a snapshot.
                waitingOn = "an awaiter a heap snapshot does not read";
                break;
            case OperationKind.DelegateTask:
                activity = operation.Activity;
                waitingOn = operation.IsRunning ? RunningWork.StillRunning : "a thread to run on (queued, not started)";
                break;
            default:
                waitingOn = Described(operation.Address, "a task that could not be read");
                break;
        }

        var waitsOnTimer = awaitedObject is { IsSystemTimer: true };

        return new PendingOperation
        {
            Keys = [.. operation.Addresses.Select(key)],
            Kind = kind,
            TaskId = operation.TaskId,
            StateMachineType = operation.StateMachineType,
            State = operation.State,
            DelegateMethod = operation.Delegate != 0 ? Safely(() => heap.MethodOfDelegate(operation.Delegate), null) : null,
            AwaitedKey = awaited != 0 ? key(awaited) : null,
            WaitingOn = waitingOn,
            Activity = activity,
            WaitsOnTimer = waitsOnTimer,
            ContinuationKeys = [.. operation.Continuations.Select(key)],
            HostedService = kind == OperationKind.AsyncMethod ? Safely(() => heap.HostedServiceOf(operation), null) : null,

            // The heap does not say when an object was made: the scope's beginning is an upper bound of its age.
            CreatedTimestamp = began,
            ScopeName = scopeName,
        };
    }
}
