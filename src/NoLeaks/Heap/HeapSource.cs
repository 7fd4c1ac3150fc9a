using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using NoLeaks.Analysis;

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

    private readonly Func<ProcessHeap> _open;
    private readonly object _gate = new();
    private readonly ConditionalWeakTable<LeakScope, ScopeState> _scopes = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<LeakScope, long> _openScopes = new();
    private ProcessHeap? _heap;
    private string? _unavailable;
    private bool _opened;
    private AbandonedMethodListener? _abandoned;

    public HeapSource(Func<ProcessHeap>? open = null) => _open = open ?? SharedHeap.Get;

    public string Name => "heap snapshots";

    public string? UnavailableReason
    {
        get
        {
            Open();
            return _unavailable;
        }
    }

    /// <summary>The listener that reports abandoned async methods (null until the first scope began).</summary>
    internal AbandonedMethodListener? Abandoned => _abandoned;

    public void OnScopeBegun(LeakScope scope)
    {
        // Before the scope's code runs: boxes created from now on are finalizable, so abandoned ones are noticed.
        _abandoned ??= AbandonedMethodListener.Start();
        var state = _scopes.GetValue(scope, _ => new ScopeState());
        foreach (var ended in _openScopes.Keys.Where(s => s.IsEnded))
        {
            _openScopes.TryRemove(ended, out _);
        }

        if (Open() is not { } heap)
        {
            return;
        }

        // Garbage left by earlier code is finalized now, so that its abandoned methods are not this scope's.
        heap.CollectGarbage();
        state.Began = Stopwatch.GetTimestamp();
        var snapshot = heap.Capture();
        state.PendingAtBegin = snapshot.Operations.Count;
        _openScopes[scope] = state.Began;
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

    /// <summary>The last snapshot a scope's check read (retention paths reuse it while its addresses are valid).</summary>
    internal HeapSnapshot? LastSnapshotOf(LeakScope scope) => _scopes.TryGetValue(scope, out var state) ? state.Last?.Snapshot : null;

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

    private Collected Collect(LeakScope scope, ScopeState state)
    {
        var warnings = new List<string>();
        var operations = new List<PendingOperation>();
        if (Open() is not { } heap)
        {
            return new Collected(Stopwatch.GetTimestamp(), operations, warnings, null);
        }

        // Finalizers first: an unfinished method collected since the scope began raises its event now.
        heap.CollectGarbage();
        if (_abandoned is { } abandoned)
        {
            state.Abandoned.AddRange(abandoned.Claim(method =>
                state.Began != 0 && method.Timestamp >= state.Began
                && !_openScopes.Any(other => other.Key != scope && other.Value <= method.Timestamp && !EndedBefore(other.Key, method.Timestamp))));
            if (abandoned.UnavailableReason is { } reason && state.Began != 0)
            {
                warnings.Add(reason);
            }
        }

        HeapSnapshot? snapshot = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            (snapshot, var read) = heap.Capture(forceGc: true, s => HeapReading.ToPendingOperations(heap, s, scope, state.Began));
            if (snapshot.Warnings.Count > 0)
            {
                break;
            }

            if (read is not null)
            {
                operations.AddRange(read);
                break;
            }

            // A GC moved objects while the snapshot was read: addresses are stale, read again.
            snapshot = null;
        }

        if (snapshot is null)
        {
            warnings.Add("the heap kept changing while it was read (a GC ran during three snapshots in a row); nothing is reported for this check.");
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

        return new Collected(Stopwatch.GetTimestamp(), operations, warnings, snapshot);
    }

    /// <summary>A scope that has ended was open until at least its last check; an open one until now.</summary>
    private bool EndedBefore(LeakScope other, long timestamp) =>
        other.IsEnded && _scopes.TryGetValue(other, out var state) && state.Last is { } last && last.Taken < timestamp;

    private sealed record Collected(long Taken, List<PendingOperation> Operations, List<string> Warnings, HeapSnapshot? Snapshot);

    private sealed class ScopeState
    {
        public long Began { get; set; }

        public int PendingAtBegin { get; set; }

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
