using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using NoLeaks.Analysis;
using NoLeaks.Tracking;

namespace NoLeaks.Heap;

/// <summary>
/// Finds pending work in snapshots of the GC heap instead of the runtime's task tracking: every unfinished task and
/// state-machine box (pooling ValueTask boxes too, which are not tasks). A scope takes a snapshot when it begins and
/// one whenever it checks (after a forced GC). It owns what is pending and whose captured ExecutionContext holds the
/// scope in its AsyncLocal — read from the heap, through the scope's <see cref="LeakScope.Id"/> — plus the work
/// without a captured context that its own work awaits (promises, work started under SuppressFlow and awaited).
/// Work with no captured context that nothing of the scope awaits is not seen: the heap does not say who made it.
/// Since a scope appears in an ExecutionContext only after it began, everything it owns is new.
/// </summary>
internal sealed class HeapSource : IPendingOperationSource
{
    private static readonly TimeSpan ReuseWindow = TimeSpan.FromMilliseconds(50);

    /// <summary>The most snapshots a check takes waiting for two in a row to agree on the scope's work.</summary>
    internal const int MaxCaptures = 7;

    /// <summary>How many snapshots in a row may be spoiled by a GC before a check gives up with a warning.</summary>
    private const int MaxUnreadable = 5;

    private readonly Func<ProcessHeap> _open;
    private readonly HeapWatchdog _watchdog;
    private readonly object _gate = new();
    private readonly ConditionalWeakTable<LeakScope, ScopeState> _scopes = new();
    // Heap scopes that are open or ended recently, with when they began and last checked.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<LeakScope, ScopeLife> _lives = new();
    private ProcessHeap? _heap;
    private string? _unavailable;
    private bool _opened;
    private AbandonedMethodListener? _abandoned;

    public HeapSource(Func<ProcessHeap>? open = null, HeapWatchdog? watchdog = null)
    {
        _open = open ?? SharedHeap.Get;
        _watchdog = watchdog ?? HeapWatchdog.Shared;
    }

    /// <summary>
    /// How long one check's heap reading may take before its test is let go with a failed check: a check takes well
    /// under a second, up to a few seconds on a loaded machine; a read still running after this is hung.
    /// </summary>
    internal TimeSpan ReadBound { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Test hook: runs inside every heap reading of a check, before the heap is read.</summary>
    internal Action? BeforeRead { get; init; }

    public string Name => "heap snapshots";

    public string? UnavailableReason
    {
        get
        {
            Open();
            return _unavailable ?? _watchdog.HungReason;
        }
    }

    /// <summary>The listener that reports abandoned async methods (null until the first scope began).</summary>
    internal AbandonedMethodListener? Abandoned => _abandoned;

    public void OnScopeBegun(LeakScope scope)
    {
        // Before the scope's code runs: boxes created from now on are finalizable, so abandoned ones are noticed.
        _abandoned ??= AbandonedMethodListener.Start();
        StartCreationEvents();
        var state = _scopes.GetValue(scope, _ => new ScopeState());
        var now = Stopwatch.GetTimestamp();
        foreach (var (other, life) in _lives)
        {
            // Kept a while after they end: an abandoned method found later may be theirs (see Claims).
            if (other.IsEnded && Stopwatch.GetElapsedTime(life.LastChecked, now) > KeepEndedScopes)
            {
                _lives.TryRemove(other, out _);
            }
        }

        if (Open() is not { } heap)
        {
            return;
        }

        // Garbage left by earlier code is finalized now, so that its abandoned methods are not this scope's.
        var snapshot = _watchdog.Run("snapshot at a scope's beginning", ReadBound, () =>
        {
            BeforeRead?.Invoke();
            heap.CollectGarbage();
            state.Life.Began = Stopwatch.GetTimestamp();
            return heap.Capture();
        });
        state.PendingAtBegin = snapshot.Operations.Count;
        foreach (var operation in snapshot.Operations)
        {
            if (operation.StateMachineType is { } type)
            {
                state.MethodsPendingAtBegin.Add(type);
            }
        }

        _lives[scope] = state.Life;
    }

    private static readonly TimeSpan KeepEndedScopes = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Whether an abandoned method (the runtime's event names its state machine, never its owner) is this scope's.
    /// Claimed only when nothing else can have made it: the event came after the scope began; no other heap scope
    /// was open at any moment between the scope's beginning and the event (work of a scope that overlapped could be
    /// that scope's); and no method of its type was pending anywhere when the scope began (work left behind by code
    /// that ran earlier — an ended scope's leak, collected later — is not this scope's), and none was seen pending and
    /// not this scope's by any of its checks (code that runs outside every scope — a test without the attribute, in
    /// parallel — left it behind). When in doubt nobody claims
    /// it: a missed report, never a report in the wrong test.
    /// </summary>
    private bool Claims(LeakScope scope, ScopeState state, AbandonedMethod method)
    {
        if (state.Began == 0 || method.Timestamp < state.Began
            || (method.StateMachineType is { } type && (state.MethodsPendingAtBegin.Contains(type) || state.ForeignMethods.Contains(type))))
        {
            return false;
        }

        foreach (var (other, life) in _lives)
        {
            if (other != scope && life.Began != 0 && life.Began <= method.Timestamp && !(other.IsEnded && life.LastChecked < state.Began))
            {
                return false;
            }
        }

        return true;
    }

    public IReadOnlyList<PendingOperation> CollectPending(LeakScope scope, ICollection<string> warnings)
    {
        var state = _scopes.GetValue(scope, _ => new ScopeState());
        lock (state)
        {
            if (state.Last is not { } last || Stopwatch.GetElapsedTime(last.Taken) > ReuseWindow)
            {
                last = state.Last = Collect(scope, state);
            }

            foreach (var warning in last.Warnings)
            {
                warnings.Add(warning);
            }

            return last.Operations;
        }
    }

    public long PendingFingerprint(LeakScope scope)
    {
        var state = _scopes.GetValue(scope, _ => new ScopeState());
        lock (state)
        {
            var last = state.Last = Collect(scope, state);
            long fingerprint = last.Warnings.Count;
            foreach (var operation in last.Operations)
            {
                fingerprint = unchecked((fingerprint * 31) + HashCode.Combine(operation.Kind, operation.State, operation.StateMachineType, operation.TaskId));
            }

            return fingerprint;
        }
    }

    /// <summary>
    /// The creators of work that carries no ExecutionContext (created under <c>SuppressFlow</c>, or by such work):
    /// task id → id of the heap scope current where it was created, or of the scope owning the task that created
    /// it. From the TplEventSource creation events (the tracking source's fallback listener); the heap shows the
    /// task id, since raising the event gives every task its id. Forgotten when the task completes.
    /// </summary>
    private readonly Dictionary<int, long> _creators = new();
    private TaskCreationListener? _creations;
    private bool _creationsStarted;

    private void StartCreationEvents()
    {
        lock (_creators)
        {
            if (_creationsStarted)
            {
                return;
            }

            _creationsStarted = true;
            try
            {
                _creations = new TaskCreationListener(OnCreated, OnCompleted);
            }
            catch (Exception)
            {
                // Without the events, context-less work is the scope's only when its own work awaits it.
                _creations = null;
            }
        }
    }

    private void OnCreated(int taskId)
    {
        // Created where a scope is current (one of ours), or else by a task: then the owner of that task, if any.
        var scope = LeakScope.RawCurrent?.RegistrationTarget;
        var parent = scope is null ? Task.CurrentId : null;
        if (scope is null ? parent is null : !ReferenceEquals(scope.Source, this))
        {
            return;
        }

        lock (_creators)
        {
            if (scope is not null)
            {
                _creators[taskId] = scope.Id;
            }
            else if (_creators.TryGetValue(parent!.Value, out var owner))
            {
                _creators[taskId] = owner;
            }
        }
    }

    private void OnCompleted(int taskId)
    {
        lock (_creators)
        {
            _creators.Remove(taskId);
        }
    }

    /// <summary>The heap scope that created the task with this id, or 0 when none is known.</summary>
    internal long CreatorOf(int taskId)
    {
        if (taskId == 0)
        {
            return 0;
        }

        lock (_creators)
        {
            return _creators.GetValueOrDefault(taskId);
        }
    }

    private ProcessHeap? Open()
    {
        lock (_gate)
        {
            if (!_opened)
            {
                _opened = true;
                try
                {
                    _heap = _open();
                }
                catch (Exception e)
                {
                    _unavailable = $"the heap cannot be read in this process ({e.GetType().Name}: {e.Message})";
                }
            }

            return _heap;
        }
    }

    /// <summary>One check's reading, bounded by <see cref="ReadBound"/> (a hung read throws a TimeoutException).</summary>
    private Collected Collect(LeakScope scope, ScopeState state) =>
        _watchdog.Run("leak check", ReadBound, () =>
        {
            BeforeRead?.Invoke();
            return CollectNow(scope, state);
        });

    private Collected CollectNow(LeakScope scope, ScopeState state)
    {
        var warnings = new List<string>();
        var operations = new List<PendingOperation>();
        if (Open() is not { } heap)
        {
            return new Collected(Stopwatch.GetTimestamp(), operations, warnings);
        }

        // Finalizers first: an unfinished method collected since the scope began raises its event now.
        heap.CollectGarbage();
        if (_abandoned is { } abandoned)
        {
            state.Abandoned.AddRange(abandoned.Claim(method => Claims(scope, state, method)));
            if (abandoned.UnavailableReason is { } reason && state.Began != 0)
            {
                warnings.Add(reason);
            }
        }

        // Read until two snapshots in a row agree on the scope's work (a double collect): a single walk can miss work
        // that moves to a new object while the heap is read (ProcessHeap.Capture). Each reading is valid on its own
        // (no GC moved objects while it was read); a GC between two readings does not matter, since they are compared
        // by what the work is and where it waits, not by address.
        HeapSnapshot? snapshot = null;
        List<PendingOperation>? previous = null;
        var unreadable = 0;
        for (var capture = 0; capture < MaxCaptures && unreadable < MaxUnreadable; capture++)
        {
            // Each with a full GC of its own: started after one, the no-GC region is rarely lost; started on a busy
            // process's full young generation, it was lost in two readings of three (the churn test).
            // A reading spoiled by a GC is read again in a larger no-GC region: threads that allocate fast (a busy
            // process, a test's own load) exhaust 16 MB before a walk ends. A region is address space, not memory:
            // only what is allocated in it is committed.
            var region = ProcessHeap.DefaultRegionBytes << Math.Min(2 * unreadable, ProcessHeap.MaxRegionShift);
            var (taken, read) = heap.Capture(forceGc: true, s => HeapReading.ToPendingOperations(heap, s, scope, state.Began, CreatorOf, state.ForeignMethods), region);
            if (taken.Warnings.Count > 0)
            {
                snapshot = taken;
                break;
            }

            if (read is null)
            {
                // A GC moved objects while the snapshot was read: addresses are stale, read again.
                unreadable++;
                continue;
            }

            snapshot = taken;
            var settled = previous is not null && HeapReading.SameWork(previous, read);
            previous = read;
            if (settled)
            {
                break;
            }
        }

        if (previous is not null && snapshot is { Warnings.Count: 0 })
        {
            // Work that never settles (a loop that keeps suspending and resuming) is reported from the last reading.
            operations.AddRange(previous);
        }

        if (snapshot is null)
        {
            warnings.Add($"the heap kept changing while it was read (a GC ran during {MaxUnreadable} snapshots in a row); nothing is reported for this check.");
        }
        else if (snapshot.Warnings.Count > 0)
        {
            warnings.Add(snapshot.Warnings[0] + "; nothing is reported from the heap for this check.");
            snapshot = null;
        }

        foreach (var method in state.Abandoned)
        {
            operations.Add(method.ToPendingOperation(scope.Name));
        }

        var checkedAt = Stopwatch.GetTimestamp();
        state.Life.LastChecked = checkedAt;
        return new Collected(checkedAt, operations, warnings);
    }

    private sealed record Collected(long Taken, List<PendingOperation> Operations, List<string> Warnings);

    /// <summary>
    /// When a heap scope began and when it was last checked (a scope's end is its last check), kept a while after it
    /// ended to decide whose an abandoned method can be: small, so that ended scopes' snapshots are not kept with it.
    /// </summary>
    private sealed class ScopeLife
    {
        public long Began { get; set; }

        public long LastChecked { get; set; }
    }

    private sealed class ScopeState
    {
        public long Began => Life.Began;

        public int PendingAtBegin { get; set; }

        /// <summary>The state-machine types of every method pending in the process when the scope began.</summary>
        public HashSet<Type> MethodsPendingAtBegin { get; } = [];

        /// <summary>The state-machine types of methods the scope's checks saw pending and not the scope's.</summary>
        public HashSet<Type> ForeignMethods { get; } = [];

        public ScopeLife Life { get; } = new();

        public Collected? Last { get; set; }

        public List<AbandonedMethod> Abandoned { get; } = [];
    }
}

/// <summary>The one ClrMD attachment of the process, opened on first use and kept.</summary>
internal static class SharedHeap
{
    private static readonly Lazy<ProcessHeap> Heap = new(ProcessHeap.Open, LazyThreadSafetyMode.ExecutionAndPublication);

    public static ProcessHeap Get() => Heap.Value;
}
