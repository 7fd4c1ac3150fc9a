using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using NoLeaks.Analysis;

namespace NoLeaks.Tracking;

/// <summary>
/// The default source: the runtime's task tracking gives the live pending tasks; the creation hook tells which
/// scope created each one. Ownership is decided when the work is created, on the creating thread, so work created
/// under <c>ExecutionContext.SuppressFlow()</c> still belongs to the test that created it, and work that existed
/// before a scope began is never the scope's.
/// </summary>
internal sealed class TrackingSource : IPendingOperationSource
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    // Task.m_stateObject (.NET 10, 11): an async-method box keeps its captured ExecutionContext here.
    private static readonly FieldInfo? TaskStateObject = typeof(Task).GetField("m_stateObject", Instance);

    // Task.m_contingentProperties.m_capturedContext (.NET Core 1.0 – 11): a delegate task's captured context.
    private static readonly FieldInfo? TaskContingentProperties = typeof(Task).GetField("m_contingentProperties", Instance);

    private readonly RuntimeTaskTracking _tracking;
    // Every record, by task id; guarded by the tracking's gate (the runtime's own lock under the dictionary hook).
    private readonly Dictionary<int, OperationRecord> _records = new();
    // The highest task id the dictionary hook has seen; guarded by the tracking's gate.
    private int _highestSighted;
    private readonly object _startGate = new();
    private TaskCreationListener? _listener;
    private bool _started;
    private string? _eventsUnavailable;

    private readonly bool _useCreationEvents;
    private readonly bool _useHook;

    /// <summary>The environment variable that switches the dictionary hook off (<c>0</c>) in favour of the listener.</summary>
    internal const string DictionaryHookVariable = "NOLEAKS_DICTIONARY_HOOK";

    /// <param name="tracking">The runtime's task tracking.</param>
    /// <param name="useCreationEvents">False plays a runtime whose creation events never arrive (tests only).</param>
    /// <param name="useHook">Whether to try the dictionary hook before the event listener. Default: yes, unless the
    /// environment variable <c>NOLEAKS_DICTIONARY_HOOK=0</c> says no (the switch back to the listener, should the hook
    /// misbehave on some runtime).</param>
    public TrackingSource(RuntimeTaskTracking tracking, bool useCreationEvents = true, bool? useHook = null)
    {
        _tracking = tracking;
        _useCreationEvents = useCreationEvents;
        _useHook = useHook ?? Environment.GetEnvironmentVariable(DictionaryHookVariable) != "0";
    }

    public string Name => "runtime task tracking";

    /// <inheritdoc/>
    public bool ReadsTimerDue => TimerDue.MissingInternals is null;

    /// <summary>The runtime's task tracking this source reads.</summary>
    internal RuntimeTaskTracking Runtime => _tracking;

    public string? UnavailableReason => _tracking.UnavailableReason;

    /// <summary>Null when creation events arrive; otherwise why not, and ownership falls back to captured contexts.</summary>
    public string? CreationEventsUnavailable => _eventsUnavailable;

    public void OnScopeBegun(LeakScope scope)
    {
        if (!Volatile.Read(ref _started))
        {
            Start();
        }
    }

    private void Start()
    {
        lock (_startGate)
        {
            if (_started)
            {
                return;
            }

            var hook = _useHook ? new ActiveTasksHook(OnSighting) : null;
            if (_tracking.Enable(hook) && !_useCreationEvents)
            {
                _eventsUnavailable = "creation events are switched off";
            }
            else if (hook is not null && _tracking.HookInstalled && RecordsNewAsyncMethods())
            {
                CreationHook = DictionaryHook;
            }
            else if (_tracking.IsAvailable)
            {
                CreationHook = "the TplEventSource listener";
                StartListener();

                // Switching the runtime's TplEventSource on also makes .NET 11 re-read whether tracking is on.
                if (!RecordsNewAsyncMethods())
                {
                    _tracking.MarkUnavailable("runtime task tracking is unavailable: this runtime did not record a new async method "
                        + "in its task tracking after NoLeaks switched it on"
                        + (_tracking.InstrumentationResyncFailure is { } why ? $" ({why})" : ""));
                }
            }

            Volatile.Write(ref _started, true);
        }
    }

    private const string DictionaryHook = "the runtime's active-task dictionary";

    // Apart from Start: compiling Start must not load System.Diagnostics.Tracing when the hook is used.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void StartListener()
    {
        try
        {
            _listener = new TaskCreationListener(OnCreatedEvent, OnCompletedEvent);
            _eventsUnavailable = SelfTest(_listener);
        }
        catch (Exception e)
        {
            _eventsUnavailable = $"the task creation hook could not start ({e.GetType().Name}: {e.Message})";
        }
    }

    /// <summary>
    /// A record the runtime does not know (yet) is kept this long: the creation event arrives before the runtime adds
    /// the task to its dictionary, so a brand-new record of pending work can look like one of finished work.
    /// </summary>
    private const long YoungRecordMilliseconds = 1000;

    /// <summary>True when the record's work has completed (or vanished long enough ago to be sure). Under the lock.</summary>
    private bool IsGoneLocked(int taskId, OperationRecord record) =>
        IsGone(_tracking.FindLocked(taskId), record.CreatedTicks, Environment.TickCount64);

    /// <summary>
    /// The rule behind <see cref="IsGoneLocked"/>: a completed task is gone; a task the runtime does not know is gone
    /// only when its record is older than a second (younger, the runtime may not have added it yet).
    /// </summary>
    internal static bool IsGone(Task? task, long createdTicks, long nowTicks) =>
        task is null ? nowTicks - createdTicks > YoungRecordMilliseconds : task.IsCompleted;

    /// <summary>Which creation hook is in use, once started: the active-task dictionary, or the event listener.</summary>
    public string? CreationHook { get; private set; }

    /// <summary>
    /// Checks that the runtime records a new async method, pending, in its task tracking: with the hook, through the
    /// hook's dictionary (a dictionary with a comparer of its own always asks it). Another thread's work proves
    /// nothing: on .NET 11 a runtime that cached "tracking off" records delegate tasks and promises but no async method.
    /// </summary>
    private bool RecordsNewAsyncMethods()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var probe = AwaitOnce(gate.Task);
        var recorded = _tracking.Contains(probe.Id);
        gate.SetResult();
        probe.GetAwaiter().GetResult();
        return recorded;
    }

    private static void Probe()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var probe = AwaitOnce(gate.Task);
        gate.SetResult();
        probe.GetAwaiter().GetResult();
    }

    private static async Task AwaitOnce(Task task) => await task;

    /// <summary>Checks that creating an async method raises a creation event; a runtime that stopped raising them is noticed.</summary>
    private static string? SelfTest(TaskCreationListener listener)
    {
        // The runtime creates its TplEventSource lazily, on the first async operation: the first probe makes sure
        // it exists (and the listener has enabled it), the second one must then raise an event.
        Probe();
        if (!listener.IsAttached)
        {
            return "the runtime's TplEventSource was not found (EventSource support may be trimmed away)";
        }

        var before = Interlocked.Read(ref listener.BeginCount);
        Probe();
        return Interlocked.Read(ref listener.BeginCount) > before
            ? null
            : "the runtime raised no TraceOperationBegin event for a new async method";
    }

    /// <summary>
    /// The dictionary hook's call, always inside the runtime's lock on its dictionary, which is also the lock of
    /// every record (<see cref="RuntimeTaskTracking.Gate"/>). The runtime adds a task when it creates it, adds it
    /// again each time it is awaited, and removes it when it completes: only an id that is not in the dictionary
    /// yet is a creation, and an id we own that is found completed is a completion.
    /// <para>Every task of the process passes here, mostly while the process is still JIT-compiling test code
    /// (so tiering would leave these methods unoptimized for the whole run): compiled optimized at once.</para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnSighting(int taskId)
    {
        // Task ids are handed out in increasing order, and the runtime adds a task to its record (calling here) before it
        // can take it out or add it again: an id above every id seen so far has never been in the record, so it is a
        // creation, without asking the runtime's dictionary. (A lower one may be either; ids that wrap around to
        // negative values are always asked.)
        var neverSeen = taskId > _highestSighted;
        if (neverSeen)
        {
            _highestSighted = taskId;
        }

        if (_records.TryGetValue(taskId, out var record))
        {
            // Work a scope owns, seen again: when it is awaited (still pending), and when the runtime takes it out of
            // its record as it completes. An async method's box is completed by then; a delegate task or a promise is
            // taken out before it is marked completed, so it is only known to be finishing, and a prune of those ids
            // alone, once the runtime has let go of its lock, finds which are gone.
            if (_tracking.FindLocked(taskId) is { IsCompleted: true })
            {
                _records.Remove(taskId);
                record.Scope.Operations.Remove(taskId);
            }
            else if (_tracking.HookInstalled)
            {
                var scope = record.Scope;
                var finishing = scope.Finishing ??= new List<int>(LeakScope.FinishingPruneThreshold);
                finishing.Add(taskId);
                if (finishing.Count >= scope.FinishingPruneAt)
                {
                    // Here, under the runtime's lock this call already holds: a prune queued to the thread pool cost a
                    // thread's wake-up and a second taker of that lock every 256 operations.
                    ForgetFinishedLocked(scope);
                }
            }

            return;
        }

        var current = LeakScope.RawCurrent;
        var creator = Task.CurrentId;
        if (current is null && creator is null)
        {
            return;
        }

        if (neverSeen || !_tracking.ContainsLocked(taskId))
        {
            OnCreatedLocked(taskId, current, creator);
        }
        else if (current is { } scope && ReferenceEquals(scope.Source, this))
        {
            // A task created elsewhere, awaited by the scope's code: what awaits it may be a pooled async method's
            // box, which is no task and is found only from here.
            var awaited = scope.AwaitedElsewhere ??= new HashSet<int>();
            if (awaited.Count < LeakScope.MaxAwaitedElsewhere)
            {
                awaited.Add(taskId);
            }
        }
    }

    private void OnCreatedEvent(int taskId)
    {
        lock (_tracking.Gate)
        {
            if (!_records.ContainsKey(taskId))
            {
                OnCreatedLocked(taskId, LeakScope.RawCurrent, Task.CurrentId);
            }
        }
    }

    private void OnCompletedEvent(int taskId)
    {
        lock (_tracking.Gate)
        {
            OnCompletedLocked(taskId);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnCreatedLocked(int taskId, LeakScope? scope, int? creator)
    {
        if (scope is null)
        {
            // Work started by a task the scope owns, on a thread where the scope's context did not flow
            // (SuppressFlow, UnsafeStart): the owner of the parent is the owner.
            if (creator is not int parentId || !_records.TryGetValue(parentId, out var parent))
            {
                return;
            }

            scope = parent.Scope;
        }

        scope = scope.RegistrationTarget;
        if (!ReferenceEquals(scope.Source, this))
        {
            // A scope of another source (a test's own engine, the heap source): that source keeps its records.
            return;
        }

        // No file information here: the dictionary hook runs inside the runtime's lock, and reading PDBs is slow.
        // Lines are resolved from the PDB when a report is made.
        var stack = scope.CaptureCreationStacks ? new StackTrace(2, fNeedFileInfo: false) : null;
        var record = new OperationRecord(taskId, scope, Environment.TickCount64, creator, stack);
        _records[taskId] = record;
        scope.Operations[taskId] = record;
        if (CreationHook == DictionaryHook && ++scope.RecordedSincePrune > scope.PruneThreshold)
        {
            SchedulePrune(scope);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void OnCompletedLocked(int taskId)
    {
        if (_records.Remove(taskId, out var record))
        {
            record.Scope.Operations.Remove(taskId);
        }
    }

    /// <summary>Forgets, on a pool thread, the records of a scope's work that has completed.</summary>
    private void SchedulePrune(LeakScope scope)
    {
        if (!scope.Pruning)
        {
            scope.Pruning = true;
            QueuePrune(scope);
        }
    }

    private void QueuePrune(LeakScope scope) =>
        ThreadPool.UnsafeQueueUserWorkItem(
            static state =>
            {
                var (source, scope) = state;
                lock (source._tracking.Gate)
                {
                    try
                    {
                        source.ForgetGoneLocked(scope);
                        scope.PruneThreshold = Math.Max(LeakScope.InitialPruneThreshold, scope.Operations.Count * 2);
                        scope.RecordedSincePrune = 0;
                    }
                    catch (Exception)
                    {
                        // Pruning is housekeeping: the scope's end prunes too.
                    }
                    finally
                    {
                        scope.Pruning = false;
                    }
                }
            },
            (this, scope),
            preferLocal: false);

    /// <summary>The prune of the scope's finishing work, now, on this thread (tests).</summary>
    internal void ForgetFinished(LeakScope scope)
    {
        lock (_tracking.Gate)
        {
            ForgetFinishedLocked(scope);
        }
    }

    /// <summary>
    /// Drops the records of the scope's finishing work that the runtime no longer records as pending. The runtime had it
    /// in its record when it was seen again, so a task missing now has been taken out as it completed; a task still
    /// pending (awaited again, or being taken out on another thread right now) stays listed. Cheap: only those ids are
    /// looked at, so the records of short-lived work die young instead of piling up until a full prune. Under the lock.
    /// </summary>
    private void ForgetFinishedLocked(LeakScope scope)
    {
        if (scope.Finishing is not { } finishing)
        {
            return;
        }

        finishing.RemoveAll(id =>
        {
            if (!_records.TryGetValue(id, out var record))
            {
                return true;
            }

            if (_tracking.FindLocked(id) is not (null or { IsCompleted: true }))
            {
                return false;
            }

            _records.Remove(id);
            record.Scope.Operations.Remove(id);
            return true;
        });

        // What is still listed is looked at again once as many more have come.
        scope.FinishingPruneAt = finishing.Count + LeakScope.FinishingPruneThreshold;
    }

    /// <summary>Drops the records of a scope's work that has completed. Under the lock.</summary>
    private void ForgetGoneLocked(LeakScope owner)
    {
        foreach (var (id, record) in owner.Operations)
        {
            if (IsGoneLocked(id, record))
            {
                owner.Operations.Remove(id);
                _records.Remove(id);
            }
        }
    }

    /// <summary>
    /// The scope's pending work, read under the lock (the runtime's own: held for a dictionary lookup per record,
    /// nothing more); records of completed work are dropped on the way.
    /// </summary>
    private List<(Task Task, OperationRecord Record)> PendingTasks(LeakScope scope)
    {
        // Listed before the lock: a scope takes its own lock around task creation, so never the other way round.
        IEnumerable<LeakScope> owners = scope.HasChildren ? scope.SelfAndUnendedDescendants().ToList() : [scope];
        var pending = new List<(Task, OperationRecord)>();
        lock (_tracking.Gate)
        {
            foreach (var owner in owners)
            {
                foreach (var (id, record) in owner.Operations)
                {
                    var task = _tracking.FindLocked(id);
                    if (task is null || task.IsCompleted)
                    {
                        // Completed without being seen (or so young that the runtime has not added it yet: kept).
                        if (IsGone(task, record.CreatedTicks, Environment.TickCount64))
                        {
                            owner.Operations.Remove(id);
                            _records.Remove(id);
                        }

                        continue;
                    }

                    pending.Add((task, record));
                }
            }
        }

        return pending;
    }

    /// <summary>The tasks the runtime still records as pending among the scope's work (promises included).</summary>
    internal List<Task> PendingTasksOf(LeakScope scope) => PendingTasks(scope).ConvertAll(pending => pending.Task);

    public long PendingFingerprint(LeakScope scope)
    {
        // Completions are noticed lazily: only work the runtime still records as pending counts.
        long fingerprint = 0;
        foreach (var (task, _) in PendingTasks(scope))
        {
            fingerprint = unchecked((fingerprint * 31) + task.Id + 1);
        }

        return fingerprint;
    }

    public bool IsOnlyFrameworkWork(LeakScope scope, out int methods)
    {
        methods = 0;
        if (!Volatile.Read(ref _started) || !_tracking.IsAvailable || _eventsUnavailable is not null)
        {
            return false;
        }

        HashSet<object>? code = null;
        foreach (var (task, _) in PendingTasks(scope))
        {
            var (type, key) = TaskInspector.CodeOf(task);
            if (key is null)
            {
                if (task.IsCompleted)
                {
                    // Completed since it was listed, and its code is cleared then: a delegate task that may just have
                    // handed its work to a new task the list does not have (Task.Run's async lambda). Not sure.
                    return false;
                }

                // A promise: never reported on its own, unless a pooled async method waits on it (no task, so not listed).
                if (HasPooledContinuation(task))
                {
                    return false;
                }

                continue;
            }

            if (type is null || !Ignore.IsFrameworkCode(type))
            {
                return false;
            }

            (code ??= new HashSet<object>()).Add(key);
        }

        methods = code?.Count ?? 0;
        return scope.AwaitedElsewhere is not { Count: > 0 } || !AwaitedElsewhere(scope).Exists(HasPooledContinuation);
    }

    private static bool HasPooledContinuation(Task task)
    {
        foreach (var key in TaskInspector.ContinuationsOf(task))
        {
            if (TaskInspector.IsPooledMethodBox(key))
            {
                return true;
            }
        }

        return false;
    }

    public IReadOnlyList<PendingOperation> CollectPending(LeakScope scope, ICollection<string> warnings)
    {
        if (!Volatile.Read(ref _started))
        {
            Start();
        }

        if (!_tracking.IsAvailable)
        {
            return [];
        }

        if (_eventsUnavailable is not null)
        {
            warnings.Add($"{_eventsUnavailable}; work is attributed to tests by its captured ExecutionContext instead, "
                + "so work created under ExecutionContext.SuppressFlow() is not seen.");
            return CollectByExecutionContext(scope, warnings);
        }

        // Listed, then inspected: a task that completes in between may have handed its work to a task created after
        // the list was made (a Task.Run delegate starting its async lambda), and once completed it no longer says what
        // it ran. So the list is made again until nothing on it completed while it was inspected (the same double
        // collect as the heap source's). Seen in CI: the scope's first check found the delegate completed and its
        // lambda's box not listed, and reported nothing.
        List<PendingOperation> operations = [];
        for (var attempt = 0; attempt < MaxListings; attempt++)
        {
            var pending = PendingTasks(scope);
            // In creation order: by the coarse clock, then by id (ids are handed out in order as the runtime records tasks).
            pending.Sort((a, b) => a.Record.CreatedTicks != b.Record.CreatedTicks ? a.Record.CreatedTicks.CompareTo(b.Record.CreatedTicks) : a.Record.TaskId.CompareTo(b.Record.TaskId));
            operations = new List<PendingOperation>(pending.Count);
            foreach (var (task, record) in pending)
            {
                var createdBy = record.CreatedInTest is { } test ? $"test {test}" : CreatorOf(record, scope);
                operations.Add(TaskInspector.Inspect(task, record, scope.Name, createdBy));
            }

            if (!pending.Exists(p => p.Task.IsCompleted))
            {
                break;
            }
        }

        AddPooledMethods(scope, operations);
        return operations;
    }

    /// <summary>
    /// Async methods built with PoolingAsyncValueTaskMethodBuilder live in pooled boxes that are not tasks, so the
    /// runtime's tracking never lists them. They are found from what the scope's work points at: a box awaited by one
    /// of its methods, a box continuing one of its tasks, or a box continuing a task created elsewhere that the scope's
    /// code awaited (the box's captured context then says whose it is). A pooled method awaiting only value-task sources
    /// (channels, sockets) and awaited by nothing is found by the heap source only.
    /// </summary>
    private void AddPooledMethods(LeakScope scope, List<PendingOperation> operations)
    {
        var found = new Queue<object>();
        foreach (var operation in operations)
        {
            if (operation.AwaitedKey is { } awaited && TaskInspector.IsPooledMethodBox(awaited))
            {
                found.Enqueue(awaited);
            }

            foreach (var key in operation.ContinuationKeys)
            {
                if (TaskInspector.IsPooledMethodBox(key))
                {
                    found.Enqueue(key);
                }
            }
        }

        foreach (var task in AwaitedElsewhere(scope))
        {
            foreach (var key in TaskInspector.ContinuationsOf(task))
            {
                if (TaskInspector.IsPooledMethodBox(key) && TaskInspector.PooledBoxContext(key) is { } context && OwnerIn(context) is { } owner
                    && scope.SelfAndUnendedDescendants().Contains(owner))
                {
                    found.Enqueue(key);
                }
            }
        }

        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var operation in operations)
        {
            seen.UnionWith(operation.Keys);
        }

        while (found.Count > 0)
        {
            var box = found.Dequeue();
            if (!seen.Add(box) || TaskInspector.InspectPooledMethod(box, scope.Name) is not { } pooled)
            {
                continue;
            }

            operations.Add(pooled);
            if (pooled.AwaitedKey is { } next && TaskInspector.IsPooledMethodBox(next))
            {
                found.Enqueue(next);
            }
        }
    }

    /// <summary>The still-pending tasks created elsewhere that the scope's code awaited; completed ones are forgotten.</summary>
    private List<Task> AwaitedElsewhere(LeakScope scope)
    {
        var tasks = new List<Task>();
        lock (_tracking.Gate)
        {
            if (scope.AwaitedElsewhere is not { Count: > 0 } ids)
            {
                return tasks;
            }

            ids.RemoveWhere(id => _tracking.FindLocked(id) is not { IsCompleted: false });
            foreach (var id in ids)
            {
                if (_tracking.FindLocked(id) is { } task)
                {
                    tasks.Add(task);
                }
            }
        }

        return tasks;
    }

    /// <summary>How many times a check lists a scope's work while some of it keeps completing under inspection.</summary>
    private const int MaxListings = 5;

    private string? CreatorOf(OperationRecord record, LeakScope scope)
    {
        if (record.CreatorTaskId is not int creatorId)
        {
            return null;
        }

        Task? creator;
        lock (_tracking.Gate)
        {
            creator = _records.ContainsKey(creatorId) ? _tracking.FindLocked(creatorId) : null;
        }

        return creator is null ? null : $"{TaskInspector.Describe(creator)} in test {scope.Name}";
    }

    /// <summary>
    /// Gives the scope the pending work that no scope owns and that was created in an execution context for which
    /// <paramref name="createdHere"/> (run inside that context) says yes: work a test framework started for the test
    /// before any hook could begin the scope (NUnit builds an InstancePerTestCase fixture in the test's own context,
    /// before its actions run). Looks at every pending task of the process once; returns how many it adopted.
    /// </summary>
    public int Adopt(LeakScope scope, Func<bool> createdHere)
    {
        if (!Volatile.Read(ref _started) || !_tracking.IsAvailable)
        {
            return 0;
        }

        var adopted = 0;
        var now = Environment.TickCount64;
        foreach (var task in _tracking.Snapshot())
        {
            if (task.IsCompleted || CapturedContextOf(task) is not { } context || OwnerIn(context) is not null)
            {
                continue;
            }

            var here = new StrongBox<bool>();
            ExecutionContext.Run(context, static state => { var (box, test) = ((StrongBox<bool>, Func<bool>))state!; box.Value = test(); }, (here, createdHere));
            if (!here.Value)
            {
                continue;
            }

            lock (_tracking.Gate)
            {
                if (_records.ContainsKey(task.Id) || task.IsCompleted)
                {
                    continue;
                }

                var record = new OperationRecord(task.Id, scope, now, creatorTaskId: null, creationStack: null);
                _records[task.Id] = record;
                scope.Operations[task.Id] = record;
                adopted++;
            }
        }

        return adopted;
    }

    /// <summary>
    /// Moves the records of <paramref name="taskIds"/> from a scope that is ending to <paramref name="owner"/>'s scope,
    /// which checks them when the owner ends. Returns how many were moved.
    /// </summary>
    public int HandOver(LeakScope from, LeakScope owner, IEnumerable<int> taskIds)
    {
        var moved = 0;
        lock (_tracking.Gate)
        {
            foreach (var id in taskIds)
            {
                if (!from.Operations.Remove(id, out var record))
                {
                    continue;
                }

                var handed = new OperationRecord(id, owner, record.CreatedTicks, record.CreatorTaskId, record.CreationStack)
                {
                    CreatedInTest = record.CreatedInTest ?? from.Name,
                };
                _records[id] = handed;
                owner.Operations[id] = handed;
                moved++;
            }
        }

        return moved;
    }

    /// <summary>
    /// After some of an ending scope's work went to <paramref name="owner"/>: the rest of its pending work, except
    /// <paramref name="keep"/> (the leaks it reports itself), goes there too, and so does whatever its leftovers create
    /// from now on. What the held work started while ownership was being decided is thereby not lost.
    /// </summary>
    public void HandOverRest(LeakScope from, LeakScope owner, IReadOnlySet<int> keep)
    {
        lock (_tracking.Gate)
        {
            from.HandedTo ??= owner;
        }

        HandOver(from, owner, from.SelfAndUnendedDescendants().SelectMany(s => LockedIds(s)).Where(id => !keep.Contains(id)).ToList());
    }

    private List<int> LockedIds(LeakScope scope)
    {
        lock (_tracking.Gate)
        {
            return [.. scope.Operations.Keys];
        }
    }

    /// <summary>
    /// The fallback when creation events do not arrive: every pending task whose captured ExecutionContext carries
    /// the scope. Slower (it looks at every pending task in the process) and blind to SuppressFlow.
    /// </summary>
    private List<PendingOperation> CollectByExecutionContext(LeakScope scope, ICollection<string> warnings)
    {
        var owners = scope.SelfAndUnendedDescendants().ToHashSet();
        var operations = new List<PendingOperation>();
        foreach (var task in _tracking.Snapshot())
        {
            if (task.IsCompleted)
            {
                continue;
            }

            try
            {
                if (CapturedContextOf(task) is { } context && OwnerIn(context) is { } owner && owners.Contains(owner))
                {
                    operations.Add(TaskInspector.Inspect(task, record: null, scope.Name, createdBy: null));
                }
            }
            catch (Exception e)
            {
                warnings.Add($"task #{task.Id} could not be inspected: {e.GetType().Name}: {e.Message}");
            }
        }

        return operations;
    }

    internal static ExecutionContext? CapturedContextOf(Task task)
    {
        if (TaskStateObject?.GetValue(task) is ExecutionContext boxContext)
        {
            return boxContext;
        }

        var contingent = TaskContingentProperties?.GetValue(task);
        var field = contingent?.GetType().GetField("m_capturedContext", Instance);
        return field?.GetValue(contingent) as ExecutionContext;
    }

    internal static LeakScope? OwnerIn(ExecutionContext context)
    {
        var owner = new StrongBox<LeakScope?>();
        ExecutionContext.Run(context, static state => ((StrongBox<LeakScope?>)state!).Value = LeakScope.RawCurrent, owner);
        return owner.Value?.RegistrationTarget;
    }
}
