using NoLeaks.Tracking;

namespace NoLeaks;

/// <summary>
/// Owns the asynchronous work started while it is current (usually: one test). When it ends it reports the work
/// that is still pending after the grace period. Scopes flow with the <see cref="ExecutionContext"/>, so tests
/// running in parallel each see only their own work.
/// </summary>
public sealed class LeakScope : IDisposable
{
    private const int Active = 0;
    private const int Ended = 1;
    private const int Disposed = 2;

    private static readonly AsyncLocal<LeakScope?> CurrentScope = new();
    private static long s_lastId;

    /// <summary>
    /// Unique in the process, and a plain field so that the heap source can read it from a captured ExecutionContext
    /// in a heap snapshot (see Heap/ProcessHeap.Objects.cs). Do not rename without changing the reader.
    /// </summary>
    internal readonly long Id = Interlocked.Increment(ref s_lastId);

    private readonly LeakEngine _engine;
    private readonly object _gate = new();
    private readonly List<LeakScope> _children = [];
    private int _state;
    private LeakReport? _report;
    private TaskCompletionSource<LeakReport>? _ending;

    private LeakScope(string name, NoLeaksOptions options, LeakScope? parent, LeakEngine engine)
    {
        Name = name;
        Options = options;
        Parent = parent;
        _engine = engine;
        CaptureCreationStacks = options.CaptureCreationStacks;
    }

    /// <summary>A scope that is current nowhere: the receiver of work handed over to a long-lived owner.</summary>
    internal static LeakScope Detached(string name, NoLeaksOptions options) => new(name, options, parent: null, LeakEngine.For(options));

    /// <summary>Long-lived objects (fixtures) that may hold this scope's pending work: see <see cref="Sdk.LeakOwner"/>.</summary>
    internal List<Sdk.LeakOwner>? Owners;

    /// <summary>The innermost scope that has not ended in the current execution context, or null.</summary>
    public static LeakScope? Current
    {
        get
        {
            var scope = CurrentScope.Value;
            while (scope is not null && scope._state != Active)
            {
                scope = scope.Parent;
            }

            return scope;
        }
    }

    /// <summary>The name the report uses, usually the test's.</summary>
    public string Name { get; }

    /// <summary>The options the scope began with.</summary>
    public NoLeaksOptions Options { get; }

    /// <summary>The scope that was current when this one began.</summary>
    public LeakScope? Parent { get; }

    /// <summary>True once the scope has ended or been disposed.</summary>
    public bool IsEnded => Volatile.Read(ref _state) != Active;

    internal static LeakScope? RawCurrent => CurrentScope.Value;

    internal bool CaptureCreationStacks { get; }

    /// <summary>Records beyond which the source prunes those of completed work; it grows with the live work.</summary>
    internal const int InitialPruneThreshold = 4096;

    internal int PruneThreshold = InitialPruneThreshold;

    // The three below and Operations are guarded by the source's gate (RuntimeTaskTracking.Gate).
    internal bool Pruning;

    internal int RecordedSincePrune;

    /// <summary>
    /// Ids of this scope's work that the runtime touched again while it was not completed: awaited once more, or being
    /// taken out of the runtime's record as it completes (the runtime takes delegate tasks and most promises out before
    /// it marks them completed). A prune of these alone drops the records of finished work while they are young.
    /// Guarded by the source's gate.
    /// </summary>
    internal List<int>? Finishing;

    /// <summary>How many more <see cref="Finishing"/> ids start the next prune of them.</summary>
    internal const int FinishingPruneThreshold = 256;

    /// <summary>The count of <see cref="Finishing"/> ids that starts the next prune of them. Guarded by the source's gate.</summary>
    internal int FinishingPruneAt = FinishingPruneThreshold;

    /// <summary>What went wrong when the source learnt of the scope, for the report.</summary>
    internal string? BeginFailure { get; set; }

    /// <summary>
    /// Ids of tasks this scope's code awaited that it did not create (a pooled async method's box awaiting one is seen
    /// only from the task's side). Guarded by the source's gate; bounded by <see cref="MaxAwaitedElsewhere"/>.
    /// </summary>
    internal HashSet<int>? AwaitedElsewhere;

    /// <summary>How many awaited-elsewhere ids a scope keeps; more are not recorded (a check prunes completed ones).</summary>
    internal const int MaxAwaitedElsewhere = 256;

    /// <summary>The operations this scope created that have not completed, by task id. Guarded by the source's gate.</summary>
    internal Dictionary<int, OperationRecord> Operations { get; } = new();

    /// <summary>The source of the scope's engine: the only one that records work for it.</summary>
    internal Analysis.IPendingOperationSource Source => _engine.Source;

    /// <summary>True when scopes begun inside this one have not ended yet.</summary>
    internal bool HasChildren
    {
        get
        {
            lock (_gate)
            {
                return _children.Count > 0;
            }
        }
    }

    /// <summary>The owner's scope this scope's held work was handed to when it ended (see <see cref="Sdk.LeakOwner"/>).</summary>
    internal LeakScope? HandedTo;

    /// <summary>
    /// Work created in a disposed (abandoned) scope goes to the nearest scope still open around it; work created in an
    /// ended scope whose held work went to an owner goes to that owner.
    /// </summary>
    internal LeakScope RegistrationTarget
    {
        get
        {
            var scope = this;
            while (scope._state == Disposed && scope.Parent is not null)
            {
                scope = scope.Parent;
            }

            // Work an ended scope's leftovers create belongs to the owner its held work was handed to.
            return scope._state == Ended && scope.HandedTo is { } owner ? owner : scope;
        }
    }

    /// <summary>
    /// Begins a scope that owns the work started from now on in this execution context (and in the tasks it starts).
    /// Options that act at creation time, such as <see cref="NoLeaksOptions.CaptureCreationStacks"/>, take effect here.
    /// </summary>
    public static LeakScope Begin(string name, NoLeaksOptions? options = null) =>
        Begin(name, options, LeakEngine.For(options ?? NoLeaksOptions.Default));

    internal static LeakScope Begin(string name, NoLeaksOptions? options, LeakEngine engine)
    {
        var parent = Current;
        var scope = new LeakScope(string.IsNullOrWhiteSpace(name) ? "(unnamed scope)" : name, options ?? NoLeaksOptions.Default, parent, engine);
        parent?.AddChild(scope);
        ServiceProviderBuilds.ListenIf(scope.Options);
        engine.OnScopeBegun(scope);
        CurrentScope.Value = scope;
        return scope;
    }

    /// <summary>
    /// Ends the scope: waits up to the grace period for its work to finish and reports what is left. Ending a scope
    /// twice returns the first report. Never throws; problems of its own are warnings in the report.
    /// </summary>
    public ValueTask<LeakReport> EndAsync(NoLeaksOptions? options = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_report is not null)
            {
                return new(_report);
            }

            if (_state != Active)
            {
                // Ended concurrently and still waiting, or disposed before it was ended.
                _ending ??= new TaskCompletionSource<LeakReport>(TaskCreationOptions.RunContinuationsAsynchronously);
                if (_state == Disposed)
                {
                    _report = new LeakReport(Name, [], ["the scope was disposed before it was ended; its work was handed to the enclosing scope and nothing was checked here."], LeakAction.Off, TimeSpan.Zero, 0);
                    _ending.TrySetResult(_report);
                }

                return new(_ending.Task);
            }

            _state = Ended;
        }

        Leave();
        var ending = _engine.EndAsync(this, (options ?? Options).WithGracePeriodInRange(), cancellationToken);
        if (ending.IsCompletedSuccessfully)
        {
            Complete(ending.Result);
            return ending;
        }

        // The engine completes the scope (Complete) before the report's task completes.
        return ending;
    }

    /// <summary>
    /// Closes the scope without checking it. Work it still owns is handed to the enclosing scope, if any, which
    /// reports it when it ends.
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_state != Active)
            {
                return;
            }

            _state = Disposed;
        }

        if (ReferenceEquals(CurrentScope.Value, this))
        {
            CurrentScope.Value = Parent;
        }
    }

    /// <summary>This scope and the scopes begun inside it that were never ended (their work rolls up to it).</summary>
    internal IEnumerable<LeakScope> SelfAndUnendedDescendants()
    {
        yield return this;
        LeakScope[] children;
        lock (_gate)
        {
            if (_children.Count == 0)
            {
                yield break;
            }

            children = [.. _children];
        }

        foreach (var child in children)
        {
            if (child._state != Ended)
            {
                foreach (var scope in child.SelfAndUnendedDescendants())
                {
                    yield return scope;
                }
            }
        }
    }

    /// <summary>The name.</summary>
    public override string ToString() => Name;

    private void Leave()
    {
        if (ReferenceEquals(CurrentScope.Value, this))
        {
            CurrentScope.Value = Parent;
        }

        Parent?.RemoveChild(this);
    }

    /// <summary>Stores the report (the first one wins) and releases what the scope held. Idempotent.</summary>
    internal void Complete(LeakReport report)
    {
        TaskCompletionSource<LeakReport>? waiting;
        lock (_gate)
        {
            _report ??= report;
            waiting = _ending;
        }

        waiting?.TrySetResult(_report);
    }

    private void AddChild(LeakScope child)
    {
        lock (_gate)
        {
            _children.Add(child);
        }
    }

    private void RemoveChild(LeakScope child)
    {
        lock (_gate)
        {
            _children.Remove(child);
        }
    }
}
