using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using NoLeaks.Analysis;
using NoLeaks.Heap;
using NoLeaks.Policy;
using NoLeaks.Sdk;
using NoLeaks.Tracking;

namespace NoLeaks;

/// <summary>
/// Ends scopes: collects what a scope still has pending from the source, waits the grace period, applies the
/// filters and makes the report. Nothing unexpected leaves it as an exception: it becomes a warning in the report.
/// </summary>
internal sealed class LeakEngine
{
    private static readonly Lazy<LeakEngine> LazyTracking = new(() => new LeakEngine(new TrackingSource(RuntimeTaskTracking.Probe())));
    private static readonly Lazy<LeakEngine> LazyHeap = new(() => new LeakEngine(new HeapSource()));

    private readonly LeakAnalyzer _analyzer = new(AwaitSiteResolver.Shared);

    public LeakEngine(IPendingOperationSource source)
    {
        Source = source;

        // Hosts built from the first scope on are named with their building line in reports (Analysis/HostedServices).
        HostBuilds.Listen();
    }

    /// <summary>Tests' seam: runs when a scope's first check found work pending, before the grace period starts.</summary>
    internal Action? BeforeGracePeriod { get; init; }

    /// <summary>Tests' seam: runs when the first check has analysed the work left behind, before the stuck check.</summary>
    internal Action? AfterFirstAnalysis { get; init; }

    /// <summary>The engine of the runtime's task tracking, shared by every scope of the process that uses it.</summary>
    public static LeakEngine Tracking => LazyTracking.Value;

    /// <summary>The engine a scope begun with these options uses.</summary>
    public static LeakEngine For(NoLeaksOptions options) => options.Source switch
    {
        LeakSource.Heap => Heap,
        LeakSource.Tracking => Tracking,

        // Auto: tracking is cheap and sees work from creation on; the heap is the fallback when it is missing.
        _ => Tracking.Source.UnavailableReason is null || Heap.Source.UnavailableReason is not null ? Tracking : Heap,
    };

    /// <summary>The engine of heap snapshots, shared by every scope of the process that uses it.</summary>
    public static LeakEngine Heap => LazyHeap.Value;

    public IPendingOperationSource Source { get; }

    /// <summary>
    /// How long past its grace period (and heap search budget) a check may run before its test is let go with a
    /// warning (a failure under NOLEAKS_STRICT): a source hung in a re-check must not hang the test run.
    /// </summary>
    internal TimeSpan WatchdogMargin { get; init; } = TimeSpan.FromSeconds(30);

    public void OnScopeBegun(LeakScope scope)
    {
        try
        {
            Source.OnScopeBegun(scope);
        }
        catch (Exception e)
        {
            // Never thrown at the test: the scope's report says what went wrong.
            scope.BeginFailure = $"{Source.Name} failed when the scope began: {e.GetType().Name}: {e.Message}";
        }
    }

    public ValueTask<LeakReport> EndAsync(LeakScope scope, NoLeaksOptions options, CancellationToken cancellation)
    {
        var warnings = new List<string>();
        if (scope.BeginFailure is { } beginFailure)
        {
            warnings.Add(beginFailure);
        }

        warnings.AddRange(options.SettingWarnings);
        var action = EffectiveAction(options, warnings);
        if (action == LeakAction.Off)
        {
            return new(new LeakReport(scope.Name, [], warnings, action, TimeSpan.Zero, 0));
        }

        if (Source.UnavailableReason is { } unavailable)
        {
            warnings.Add($"{unavailable}. Leaks cannot be detected in this process.");
            return new(new LeakReport(scope.Name, [], warnings, action, TimeSpan.Zero, 0)
            {
                CheckError = unavailable,
                FailsOnCheckError = options.EffectiveFailOnCheckError,
            });
        }

        try
        {
            // What was said so far (settings, NOLEAKS_ACTION, the source's start) belongs in every report of the scope.
            string[] endWarnings = [.. warnings];

            // The code on this thread runs the check: a test can end inside a continuation it started, which must not
            // count as left behind in this check or in any re-check of the grace period.
            var runningHere = RunningHere.OnThisThread();
            var first = FirstCheck(scope, options, warnings, runningHere);
            if (first.Leaks is { } leaks)
            {
                return new(new LeakReport(scope.Name, Enrich(scope, leaks, options, warnings), warnings, action, TimeSpan.Zero, first.Ignored, options.GracePeriod, first.Dormant));
            }

            List<TaskLeak> neverResuming = [];
            List<TaskLeak> neverRunning = [];
            if (first.Stuck is { } stuck && Source is TrackingSource tracking)
            {
                var started = Stopwatch.GetTimestamp();
                if (StuckCheck.Collected(tracking.Runtime, stuck.Objects, stuck.Decisive, out _) is { } collected)
                {
                    var freed = stuck.Leaks.Select((leak, i) => (Leak: leak, Objects: stuck.ObjectsOf[i]))
                        .Where(judged => NeverResumes(judged.Objects, collected)).ToList();

                    // Queued work on a scheduler nothing can reach never ran and never will (a task queued to a context
                    // that has ended): like a dormant continuation, it runs no code and holds only memory. Only when
                    // the queued task itself was still pending, and freed: one that ran between the first check and the
                    // collection (the pool took it) may have left work behind that the collection freed with the rest.
                    bool NeverRan((TaskLeak Leak, int[] Objects) judged) =>
                        !options.CountDormantContinuations && judged.Leak.NeverRan && judged.Objects.Length > 0 && collected[judged.Objects[0]] == true;

                    neverRunning = freed.Where(NeverRan).Select(judged => judged.Leak.AsDormantTask()).ToList();
                    neverResuming = freed.Where(judged => !NeverRan(judged)).Select(judged => judged.Leak).ToList();
                }

                if (neverResuming.Count + neverRunning.Count == stuck.Leaks.Count)
                {
                    // Nothing can ever reach the work again: the grace period cannot change the verdict.
                    return new(new LeakReport(
                        scope.Name, neverResuming, warnings, action, Stopwatch.GetElapsedTime(started), first.Ignored, options.GracePeriod,
                        [.. first.Dormant, .. neverRunning]));
                }
            }

            // Work found never resuming is gone from the heap: later checks cannot see it, so its entries are carried.
            return new(Wait(scope, options, action, runningHere, endWarnings, neverResuming, neverRunning, cancellation));
        }
        catch (Exception e)
        {
            return new(Failed(scope, options, action, warnings, e, TimeSpan.Zero));
        }
    }

    /// <summary>
    /// True when the collection freed every pending task of a leak (at least one). Its other objects are not judged: an
    /// unoptimized build's state machine (a class) goes with its task, and once the task is freed the runtime's record no
    /// longer has it, so the leak must be reported now or it is lost.
    /// </summary>
    private static bool NeverResumes(int[] objectsOfLeak, bool?[] collected) =>
        objectsOfLeak.Any(o => collected[o] is not null) && objectsOfLeak.All(o => collected[o] is null or true);

    /// <summary>What the first check of a scope found: a report to give at once, work to try the stuck check on, or neither.</summary>
    private sealed record FirstFinding(List<TaskLeak>? Leaks, List<TaskLeak> Dormant, int Ignored, StuckCandidate? Stuck);

    /// <summary>
    /// Leaks stripped of their operations, the operations' objects for <see cref="StuckCheck"/>, and for each leak the
    /// indexes of its objects in that list.
    /// </summary>
    private sealed record StuckCandidate(List<TaskLeak> Leaks, StrongBox<List<object>?> Objects, int Decisive, List<int[]> ObjectsOf);

    /// <summary>
    /// The check at the end of the scope. Its leaks are returned when the report can be given at once (none, or no grace
    /// period). Otherwise, when the stuck check may run, the leaks come back without their operations, whose objects go
    /// in a box the check empties: in a frame of its own, so no reference to the work outlives it on this thread's stack.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private FirstFinding FirstCheck(LeakScope scope, NoLeaksOptions options, List<string> warnings, RunningHere runningHere)
    {
        var (leaks, dormant, ignored) = Check(scope, options, warnings, EmptySet, runningHere);
        if (leaks.Count > 0)
        {
            AfterFirstAnalysis?.Invoke();
        }

        if (leaks.Count > 0 && scope.Owners is { Count: > 0 } owners)
        {
            // Held by a fixture that outlives the test: the fixture's, checked when it ends; no grace period needed.
            leaks = HandToOwners(scope, owners, leaks, options, warnings);
        }

        if (leaks.Count == 0 || options.GracePeriod <= TimeSpan.Zero)
        {
            return new(leaks, dormant, ignored, null);
        }

        if (!options.DetectStuckWork || !StuckCheck.EnabledByEnvironment || options.GracePeriod < options.StuckCheckMinimumGrace
            || Source is not TrackingSource || leaks.Exists(leak => leak.IsRunning))
        {
            return new(null, dormant, ignored, null);
        }

        var objects = new List<object>();
        var index = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
        var objectsOf = leaks.ConvertAll(leak => leak.Operations.SelectMany(operation => operation.Keys).Select(key =>
        {
            if (!index.TryGetValue(key, out var i))
            {
                index[key] = i = objects.Count;
                objects.Add(key);
            }

            return i;
        }).Distinct().ToArray());
        var decisive = objects.Count;

        // The runtime's record holds every pending task, so the tasks that hold the leaked work (the promises it
        // awaits, the scope's other pending tasks) are let go for the collection too; only the leaks' own objects decide.
        var holders = leaks.SelectMany(leak => leak.Operations).Select(operation => operation.AwaitedKey).OfType<Task>()
            .Concat(((TrackingSource)Source).PendingTasksOf(scope));
        foreach (var holder in holders)
        {
            if (index.TryAdd(holder, objects.Count))
            {
                objects.Add(holder);
            }
        }

        var detached = leaks.ConvertAll(leak => leak.Detached(StuckCheck.HeldBy, StuckCheck.Verdict));
        leaks.Clear();
        index.Clear();
        return new(null, dormant, ignored, new StuckCandidate(detached, new StrongBox<List<object>?>(objects), decisive, objectsOf));
    }

    private Task<LeakReport> Wait(
        LeakScope scope,
        NoLeaksOptions options,
        LeakAction action,
        RunningHere runningHere,
        string[] endWarnings,
        List<TaskLeak> neverResuming,
        List<TaskLeak> neverRunning,
        CancellationToken cancellation)
    {
        BeforeGracePeriod?.Invoke();

        // Not the wait's own clock: its callbacks can run before Start returns (a token cancelled already runs the
        // final check at once), when `wait` is still null.
        var started = Stopwatch.GetTimestamp();
        TimeSpan Elapsed() => Stopwatch.GetElapsedTime(started);
        var engineObjects = new HashSet<object>(ReferenceEqualityComparer.Instance);

        // The engine's wait and whatever awaits it, read anew for each check: a framework hook that awaits the check
        // (xunit v3's asynchronous test notification) and the adapter's async methods in between are not left behind.
        ISet<object> EngineObjects()
        {
            lock (engineObjects)
            {
                return WithWaiters(engineObjects);
            }
        }

        // No fingerprint yet: the first re-check always looks. Work that ended while the first check ran (a cold
        // check reading PDBs can take longer than the work had left) is already gone when the wait starts, and a
        // fingerprint taken then would match every later one: the wait would last to the end of the grace period.
        long? fingerprint = null;

        // Set when the wait went on past the grace period for a starved thread pool, or for timers due and not fired
        // (WaitsForLateWork).
        (long At, long WorkItems, int Threads)? starved = null;
        long? lateTimersSince = null;

        // The work the wait went on for has run: say how long that took.
        void AddStarvedPoolWait(List<string> warnings)
        {
            if (starved is { } since)
            {
                warnings.Add(string.Create(CultureInfo.InvariantCulture,
                    $"the thread pool was starved when the grace period ended ({since.WorkItems} work items queued, {since.Threads} threads), and the scope's work was still waiting for a thread: the check waited {Stopwatch.GetElapsedTime(since.At).TotalSeconds:0.0} s more, until it had run. Tests that block pool threads (such as Task.Run(() => gate.Wait())) starve the pool."));
            }

            if (lateTimersSince is { } late && Stopwatch.GetElapsedTime(late) >= LateTimerNoticeable)
            {
                warnings.Add(string.Create(CultureInfo.InvariantCulture,
                    $"the scope's work waited on a Task.Delay that was due when the grace period ended but had not fired (the machine or its thread pool was too busy to fire it on time): the check waited {Stopwatch.GetElapsedTime(late).TotalSeconds:0.0} s more, until it had."));
            }
        }

        // Entries found never resuming at the first check, as old as they are now.
        List<TaskLeak> Carried() => neverResuming.ConvertAll(leak => leak.Older(Elapsed()));

        LeakReport? CheckAgain()
        {
            var now = Source.PendingFingerprint(scope);
            if (now == fingerprint)
            {
                return null;
            }

            fingerprint = now;
            var warnings = new List<string>(endWarnings);
            var (leaks, dormant, ignored) = Check(scope, options, warnings, EngineObjects(), runningHere);
            if (leaks.Count > 0)
            {
                return null;
            }

            AddStarvedPoolWait(warnings);

            // The rest has ended: only the work that can never resume is left, and waiting longer changes nothing.
            return neverResuming.Count == 0
                ? new LeakReport(scope.Name, leaks, warnings, action, Elapsed(), ignored, dormantContinuations: [.. dormant, .. neverRunning])
                : new LeakReport(scope.Name, Carried(), warnings, action, Elapsed(), ignored, options.GracePeriod, [.. dormant, .. neverRunning]);
        }

        LeakReport Final()
        {
            var warnings = new List<string>(endWarnings);
            var (leaks, dormant, ignored) = Check(scope, options, warnings, EngineObjects(), runningHere);
            if (cancellation.IsCancellationRequested && leaks.Count > 0)
            {
                warnings.Add(CutShort);
            }

            var starvedPool = StarvedPoolWarning(leaks, ThreadPool.PendingWorkItemCount, ThreadPool.ThreadCount);
            var lateTimers = LateTimerWarning(leaks, Stopwatch.GetTimestamp() + options.TimerClockAhead.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond);
            if (starvedPool is not null || lateTimers is not null)
            {
                var waitedMore = (starved?.At ?? lateTimersSince) is { } since
                    ? string.Create(CultureInfo.InvariantCulture, $" The check waited {Stopwatch.GetElapsedTime(since).TotalSeconds:0.0} s past the grace period for it.")
                    : "";
                warnings.AddRange(new[] { starvedPool, lateTimers }.OfType<string>().Select(warning => warning + waitedMore));
            }
            else if (leaks.Count == 0)
            {
                // The extension ended because the work got its thread, or its timer fired, and ran (the wait then ends
                // here, not in CheckAgain).
                AddStarvedPoolWait(warnings);
            }

            // The time waited, taken before the report is enriched: a thread-stack read is not part of the wait.
            var waited = Elapsed();
            return new LeakReport(
                scope.Name, [.. Carried(), .. Enrich(scope, leaks, options, warnings)], warnings, action, waited, ignored, options.GracePeriod,
                [.. dormant, .. neverRunning]);
        }

        // When the grace period is over and all that is left is late work — queued for a thread of a starved pool (other
        // tests' blocked threads hold them all), or waiting on a timer that was due and has not fired (a machine too busy
        // to fire it) — the work has not had its chance to run: the wait goes on while that is so, up to StarvedPoolWait
        // more. Work that runs, a pool with nothing queued, or a timer not due yet (a loop's next delay) ends it.
        bool WaitsForLateWork()
        {
            if (neverResuming.Count > 0)
            {
                return false;
            }

            var workItems = ThreadPool.PendingWorkItemCount;
            if (workItems <= 0 && !Source.ReadsTimerDue)
            {
                return false;
            }

            var (leaks, _, _) = Check(scope, options, new List<string>(), EngineObjects(), runningHere);
            var now = Stopwatch.GetTimestamp() + (options.TimerClockAhead.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond);
            if (!OnlyLateWork(leaks, workItems, now))
            {
                return false;
            }

            if (leaks.Any(WaitsForPoolThread))
            {
                starved ??= (Stopwatch.GetTimestamp(), workItems, ThreadPool.ThreadCount);
            }

            if (leaks.Any(leak => TimerIsLate(leak, now)))
            {
                lateTimersSince ??= Stopwatch.GetTimestamp();
            }

            return true;
        }

        var wait = GracePeriod.Start(
            CheckAgain,
            Final,
            e => Failed(scope, options, action, [.. endWarnings], e, Elapsed()),
            options.GracePeriod,
            cancellation,
            scope.Complete,
            overrun: options.GracePeriod + (options.EffectiveRetentionBudget > TimeSpan.Zero ? options.EffectiveRetentionBudget : TimeSpan.Zero) + WatchdogMargin,
            extend: WaitsForLateWork,
            maxExtension: StarvedPoolWait);
        lock (engineObjects)
        {
            engineObjects.Add(wait.Task);
        }

        // Given its id now, before any snapshot reads it: a heap source recognises the engine's task by id.
        _ = wait.Task.Id;
        return wait.Task;
    }

    /// <summary>Maximum number of tasks that await the engine's own, followed from it (a hook's chain is a few deep).</summary>
    private const int MaxWaiters = 64;

    /// <summary>
    /// A copy of <paramref name="engineObjects"/> with every task that awaits one of its tasks, through any number of
    /// awaits (their ids are given now, so that a heap snapshot read after this names them by the same ids).
    /// </summary>
    private static HashSet<object> WithWaiters(HashSet<object> engineObjects)
    {
        var all = new HashSet<object>(engineObjects, ReferenceEqualityComparer.Instance);
        var queue = new Queue<Task>(engineObjects.OfType<Task>());
        while (queue.Count > 0 && all.Count < MaxWaiters)
        {
            foreach (var waiter in TaskInspector.ContinuationsOf(queue.Dequeue()))
            {
                if (all.Add(waiter) && waiter is Task task)
                {
                    _ = task.Id;
                    queue.Enqueue(task);
                }
            }
        }

        return all;
    }

    private (List<TaskLeak> Leaks, List<TaskLeak> Dormant, int Ignored) Check(
        LeakScope scope, NoLeaksOptions options, List<string> warnings, ISet<object> engineObjects, RunningHere runningHere)
    {
        if (InjectCheckFailure)
        {
            throw new InvalidOperationException($"a check failure injected by {InjectCheckFailureVariable}=1");
        }

        if (options.UseDefaultFilters && Source.IsOnlyFrameworkWork(scope, out var frameworkMethods))
        {
            // Nothing pending, or only what the built-in filters allow: no inspection, no analysis.
            return ([], [], frameworkMethods);
        }

        var pending = Source.CollectPending(scope, warnings);
        if (pending.Count == 0)
        {
            return ([], [], 0);
        }

        if (options.UseDefaultFilters && AllFrameworkWork(pending, out var frameworkStacks))
        {
            // Every innermost method would be a framework's, which the built-in filters allow: skip the analysis.
            return ([], [], frameworkStacks);
        }

        var found = _analyzer.Analyze(pending, engineObjects, runningHere, Stopwatch.GetTimestamp());
        var (kept, ignored) = FilterSet.Apply(found, options, warnings);
        if (options.CountDormantContinuations || !kept.Exists(leak => leak.Kind == LeakKind.DormantContinuation))
        {
            return (kept, [], ignored);
        }

        return (kept.FindAll(leak => leak.Kind != LeakKind.DormantContinuation), kept.FindAll(leak => leak.Kind == LeakKind.DormantContinuation), ignored);
    }

    /// <summary>How long the search for fixtures holding a test's pending work may take, per test that left work behind.</summary>
    internal static readonly TimeSpan OwnershipBudget = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Hands each leak that one of <paramref name="owners"/> reaches through object references to that owner, and
    /// returns the others. Runs only when a test left work behind and has owners; a search that cannot run leaves every
    /// leak the test's, with a warning.
    /// </summary>
    private List<TaskLeak> HandToOwners(LeakScope scope, List<LeakOwner> owners, List<TaskLeak> leaks, NoLeaksOptions options, List<string> warnings)
    {
        if (Source is not TrackingSource tracking)
        {
            warnings.Add("whether a fixture holds the leaked work is decided in the default mode (runtime task tracking) only.");
            return leaks;
        }

        var targets = leaks.Select(leak => (IReadOnlyList<object>)leak.Operations.SelectMany(o => o.Keys).ToList()).ToList();
        int[]? holders = null;
        var complete = false;
        try
        {
            var roots = owners.Select(o => o.Instance).ToList();
            (holders, complete) = ReadOwnership(roots, targets, out var overrun);
            if (overrun is not null)
            {
                warnings.Add($"whether a fixture holds the leaked work could not be decided: {overrun}.");
                return leaks;
            }
        }
        catch (Exception e)
        {
            warnings.Add($"whether a fixture holds the leaked work could not be decided: {e.GetType().Name}: {e.Message}");
            return leaks;
        }

        if (holders is null)
        {
            warnings.Add("whether a fixture holds the leaked work could not be decided: the heap kept changing while it was read.");
            return leaks;
        }

        if (!complete)
        {
            warnings.Add($"the search for fixtures holding the leaked work ran out of its budget ({OwnershipBudget.TotalSeconds:0.#} s); what it did not reach is reported.");
        }

        var kept = new List<TaskLeak>(leaks.Count);
        LeakScope? firstOwner = null;
        for (var i = 0; i < leaks.Count; i++)
        {
            if (holders[i] < 0)
            {
                kept.Add(leaks[i]);
                continue;
            }

            var ownerScope = owners[holders[i]].ScopeFor(options);
            tracking.HandOver(scope, ownerScope, TaskIds(leaks[i]));
            firstOwner ??= ownerScope;
        }

        if (firstOwner is not null)
        {
            tracking.HandOverRest(scope, firstOwner, kept.SelectMany(TaskIds).ToHashSet());
        }

        return kept;
    }

    /// <summary>How long a test waits at most for the ownership read, whatever happens inside it.</summary>
    internal static readonly TimeSpan OwnershipWatchdog = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The heap read behind <see cref="HandToOwners"/>, on a thread of its own (not a task: it belongs to no scope), so
    /// that a read that never ends leaves the test after <see cref="OwnershipWatchdog"/> instead of holding it.
    /// </summary>
    private static (int[]? Holders, bool Complete) ReadOwnership(List<object> roots, List<IReadOnlyList<object>> targets, out string? overrun)
    {
        try
        {
            overrun = null;
            return HeapWatchdog.Shared.Run("ownership read", OwnershipWatchdog, () =>
            {
                var heap = SharedHeap.Get();
                int[]? holders = null;
                var complete = false;
                for (var attempt = 0; attempt < 3 && holders is null; attempt++)
                {
                    holders = heap.Reach(roots, targets, OwnershipBudget, out complete);
                }

                return (holders, complete);
            });
        }
        catch (TimeoutException e)
        {
            overrun = e.Message;
            return (null, false);
        }
    }

    /// <summary>The task ids of a leak's stack and of the tasks its operations await.</summary>
    private static IEnumerable<int> TaskIds(TaskLeak leak) =>
        leak.Operations.Select(o => o.TaskId)
            .Concat(leak.Operations.Select(o => o.AwaitedKey).OfType<Task>().Select(t => t.Id))
            .Where(id => id != 0);

    /// <summary>
    /// Adds what running work is doing on its thread, and what keeps each leak alive and whether it can resume, from the
    /// heap, within the options' budget.
    /// </summary>
    private List<TaskLeak> Enrich(LeakScope scope, List<TaskLeak> leaks, NoLeaksOptions options, List<string> warnings)
    {
        if (leaks.Count == 0)
        {
            return leaks;
        }

        // Running work waits on nothing a task can show: what it does is on its thread's stack.
        leaks = RunningWork.Describe(leaks, options, warnings);
        var budget = options.EffectiveRetentionBudget;
        if (budget <= TimeSpan.Zero)
        {
            return leaks;
        }

        try
        {
            return RetentionSearch.Enrich(leaks, budget, trackingRoots: Source is TrackingSource, warnings);
        }
        catch (Exception e)
        {
            warnings.Add($"what keeps the leaks alive could not be found: {e.GetType().Name}: {e.Message}");
            return leaks;
        }
    }

    /// <summary>
    /// True when every pending operation is a promise or the test framework's own code. Then no chain can have an
    /// innermost method of the user's, and the built-in filters would allow them all. Counts the distinct methods.
    /// </summary>
    private static bool AllFrameworkWork(IReadOnlyList<PendingOperation> pending, out int stacks)
    {
        var methods = new HashSet<object>();
        foreach (var operation in pending)
        {
            if (operation.Kind == OperationKind.Promise)
            {
                continue;
            }

            var code = (object?)operation.StateMachineType ?? operation.DelegateMethod;
            var type = operation.StateMachineType ?? operation.DelegateMethod?.DeclaringType;
            if (code is null || type is null || !Ignore.IsFrameworkCode(type))
            {
                stacks = 0;
                return false;
            }

            methods.Add(code);
        }

        stacks = methods.Count;
        return true;
    }

    private static LeakReport Failed(LeakScope scope, NoLeaksOptions options, LeakAction action, List<string> warnings, Exception e, TimeSpan waited)
    {
        var error = $"{e.GetType().Name}: {e.Message}{ThrownAt(e)}";
        warnings.Add($"the leak check failed unexpectedly and reports nothing for this scope: {error}");
        return new LeakReport(scope.Name, [], warnings, action, waited, 0)
        {
            CheckError = "the leak check failed unexpectedly: " + error,
            FailsOnCheckError = options.EffectiveFailOnCheckError,
        };
    }

    /// <summary>
    /// " (thrown at Type.Method, in NoLeaks.Type.Method)": the innermost frame, and the innermost of NoLeaks' own when
    /// that is not it, so that a failure seen once in someone's suite can be located.
    /// </summary>
    internal static string ThrownAt(Exception e)
    {
        try
        {
            string? innermost = null;
            foreach (var frame in new StackTrace(e, fNeedFileInfo: false).GetFrames())
            {
                if (frame.GetMethod() is not { } method)
                {
                    continue;
                }

                var name = $"{method.DeclaringType?.FullName ?? "?"}.{method.Name}";
                if (method.DeclaringType?.Namespace?.StartsWith("NoLeaks", StringComparison.Ordinal) == true)
                {
                    return innermost is null ? $" (thrown at {name})" : $" (thrown at {innermost}, in {name})";
                }

                innermost ??= name;
            }

            return innermost is null ? "" : $" (thrown at {innermost})";
        }
        catch (Exception)
        {
            // The stack is a clue, not the report.
            return "";
        }
    }

    private static LeakAction EffectiveAction(NoLeaksOptions options, List<string> warnings)
    {
        var fromEnvironment = NoLeaksOptions.ActionFromEnvironment();
        if (fromEnvironment is null && NoLeaksOptions.RawActionFromEnvironment is { Length: > 0 } raw)
        {
            warnings.Add($"{NoLeaksOptions.ActionEnvironmentVariable}=\"{raw}\" is not fail, warn or off; it was ignored.");
        }

        if (NoLeaksOptions.RetentionBudgetFromEnvironment() is null && NoLeaksOptions.RawRetentionBudgetFromEnvironment is { Length: > 0 } budget)
        {
            warnings.Add($"{NoLeaksOptions.RetentionBudgetEnvironmentVariable}=\"{budget}\" is not a whole number of milliseconds; it was ignored.");
        }

        return fromEnvironment ?? options.Action;
    }

    /// <summary>
    /// <c>NOLEAKS_INJECT_CHECK_FAILURE=1</c> makes every check fail, to see (and test end to end) what a failed check
    /// does to a test run: a warning, or a failure under <c>NOLEAKS_STRICT=1</c>. Read once per process.
    /// </summary>
    internal const string InjectCheckFailureVariable = "NOLEAKS_INJECT_CHECK_FAILURE";

    private static readonly bool InjectCheckFailure = Environment.GetEnvironmentVariable(InjectCheckFailureVariable) == "1";

    /// <summary>True for work queued for a thread of the pool, not running.</summary>
    private static bool WaitsForPoolThread(TaskLeak leak) => !leak.IsRunning && leak.WaitingOn == TaskInspector.QueuedForPoolThread;

    /// <summary>
    /// True when every entry is late rather than left behind: queued for a thread of a pool that has a backlog
    /// (<paramref name="pendingWorkItems"/>), or waiting on a system timer that was due at <paramref name="now"/> (a
    /// <see cref="Stopwatch"/> timestamp) and has not fired.
    /// </summary>
    internal static bool OnlyLateWork(IReadOnlyCollection<TaskLeak> leaks, long pendingWorkItems, long now) =>
        leaks.Count > 0 && leaks.All(leak => (pendingWorkItems > 0 && WaitsForPoolThread(leak)) || TimerIsLate(leak, now));

    private static bool TimerIsLate(TaskLeak leak, long now) => !leak.IsRunning && leak.TimerDue is { } due && due <= now;

    /// <summary>
    /// Work waiting on a Task.Delay that was due when the grace period ended and had not fired: the machine or its pool
    /// was too busy to fire the timer. Said in the report, so that a failure the machine caused is not taken for work
    /// the test left behind.
    /// </summary>
    internal static string? LateTimerWarning(IEnumerable<TaskLeak> leaks, long now)
    {
        var noticeable = now - (LateTimerNoticeable.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond);
        var late = leaks.Where(leak => TimerIsLate(leak, noticeable)).ToList();
        if (late.Count == 0)
        {
            return null;
        }

        var overdue = TimeSpan.FromSeconds((double)(now - late.Min(leak => leak.TimerDue!.Value)) / Stopwatch.Frequency);
        var count = late.Sum(leak => leak.Count);
        return string.Create(CultureInfo.InvariantCulture,
            $"{count} of the operations above waited on a Task.Delay whose timer was due (the earliest {overdue.TotalSeconds:0.0} s before the check) and had not fired: the machine or its thread pool was too busy to fire it on time, so that work may not have had its chance to finish.");
    }

    /// <summary>
    /// How late a timer must be for the report to say so: a timer fires a few milliseconds after it is due on a machine
    /// that is not busy, and a check can land in between.
    /// </summary>
    internal static readonly TimeSpan LateTimerNoticeable = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Work queued for a thread of the pool that has not started when the grace period ends, while the pool has a
    /// backlog: the pool is starved (often by tests that block pool threads), and that work may not have had a thread
    /// yet. Said in the report, so that a failure the machine caused is not taken for work the test left running.
    /// </summary>
    internal static string? StarvedPoolWarning(IEnumerable<TaskLeak> leaks, long pendingWorkItems, int threads)
    {
        var waiting = leaks.Where(WaitsForPoolThread).Sum(leak => leak.Count);
        return waiting == 0 || pendingWorkItems <= 0
            ? null
            : string.Create(CultureInfo.InvariantCulture,
                $"{waiting} of the operations above waited for a thread of the thread pool, which had {pendingWorkItems} work item{(pendingWorkItems == 1 ? "" : "s")} queued and {threads} thread{(threads == 1 ? "" : "s")} when the grace period ended: the pool is starved (tests that block pool threads, such as Task.Run(() => gate.Wait()), starve it), so that work may not have had a thread yet. Unblock those threads: await instead of Wait() or .Result in the tests that block them.");
    }

    /// <summary>The longest a check waits past its grace period for queued work to get a thread of a starved pool.</summary>
    internal static readonly TimeSpan StarvedPoolWait = TimeSpan.FromSeconds(10);

    private const string CutShort = "the grace period was cut short: the end of the scope was cancelled.";

    private static readonly ISet<object> EmptySet = new HashSet<object>();
}
