using System.Diagnostics;
using System.Globalization;
using Microsoft.Diagnostics.Runtime;
using NoLeaks.Analysis;

namespace NoLeaks.Heap;

/// <summary>
/// Finds, for each reported leak, what keeps it alive and whether anything outside its own await chain could
/// still complete what it awaits. One breadth-first search per leak from the GC roots (handles, statics, stacks
/// ClrMD sees) and from the async methods and delegates running right now (their locals live on stacks the in-process
/// reader cannot see), never entering the chain's own objects nor the runtime's tracking dictionary
/// (Task.s_currentActiveTasks, which holds every tracked task). Bounded by a time budget per report; over budget,
/// the entry says so instead of guessing.
/// </summary>
internal static class RetentionSearch
{
    private const int MaxSearchedLeaks = 25;
    private const int MaxPathLength = 12;
    private const long SearchRegionBytes = 128L << 20;
    // Worded for what was searched: threads' stacks are not read in process, so a thread may still hold what it awaits.
    internal const string NeverResumes =
        "nothing on the heap outside its own chain can complete what it awaits (threads' stacks are not read: a running or blocked thread may still hold it)";

    /// <summary>How long past its budget a search may run before the leaks are reported without it.</summary>
    internal static readonly TimeSpan WatchdogMargin = TimeSpan.FromSeconds(30);

    public static List<TaskLeak> Enrich(List<TaskLeak> leaks, TimeSpan budget, bool trackingRoots, List<string> warnings)
    {
        var found = new List<string>();
        try
        {
            var enriched = HeapWatchdog.Shared.Run("retention search", budget + WatchdogMargin, () => EnrichNow(leaks, budget, trackingRoots, found));
            warnings.AddRange(found);
            return enriched;
        }
        catch (TimeoutException e)
        {
            warnings.Add($"retention paths are not available: {e.Message}");
            return leaks;
        }
    }

    private static List<TaskLeak> EnrichNow(List<TaskLeak> leaks, TimeSpan budget, bool trackingRoots, List<string> warnings)
    {
        ProcessHeap heap;
        try
        {
            heap = SharedHeap.Get();
        }
        catch (Exception e)
        {
            warnings.Add($"retention paths are not available: the heap cannot be read ({e.GetType().Name}: {e.Message})");
            return leaks;
        }

        var watch = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 4 && (attempt == 0 || watch.Elapsed < budget); attempt++)
        {
            // The search reads for up to its budget while the test process goes on allocating: a larger no-GC region
            // than a snapshot's, so that other threads' allocations rarely end it.
            var (snapshot, enriched) = heap.Capture(
                forceGc: true, snapshot => Search(heap, snapshot, leaks, budget, watch, trackingRoots), SearchRegionBytes);
            if (snapshot.Warnings.Count > 0)
            {
                warnings.Add($"retention paths are not available: {snapshot.Warnings[0]}");
                return leaks;
            }

            if (enriched is not null)
            {
                return enriched;
            }
        }

        warnings.Add("retention paths are not available: the heap kept changing while it was searched");
        return leaks;
    }

    private static List<TaskLeak> Search(
        ProcessHeap heap, HeapSnapshot snapshot, List<TaskLeak> leaks, TimeSpan budget, Stopwatch watch, bool trackingRoots)
    {
        var result = new List<TaskLeak>(leaks.Count);
        var statics = StaticFields(heap.Runtime, LeakModules(leaks), Min(StaticsBound, budget));
        var tracking = ProcessHeap.ActiveTasksDictionary();
        for (var i = 0; i < leaks.Count; i++)
        {
            var leak = leaks[i];
            if (i >= MaxSearchedLeaks || leak.Kind == LeakKind.AbandonedAsyncMethod)
            {
                result.Add(leak);
                continue;
            }

            if (watch.Elapsed >= budget)
            {
                var over = OverBudget(budget);
                result.Add(leak.WithRetention(over, over));
                continue;
            }

            try
            {
                var (path, verdict) = SearchOne(heap, snapshot, leak, statics, tracking, trackingRoots, budget, watch);
                result.Add(leak.WithRetention(path, verdict));
            }
            catch (Exception e)
            {
                var failed = $"unknown — the heap search failed ({e.GetType().Name})";
                result.Add(leak.WithRetention(failed, failed));
            }
        }

        return result;
    }

    private static string OverBudget(TimeSpan budget) =>
        string.Create(CultureInfo.InvariantCulture, $"unknown — the heap search ran out of its budget of {budget.TotalMilliseconds:0} ms (NoLeaksOptions.RetentionBudget)");

    private static (string? Path, string? Verdict) SearchOne(
        ProcessHeap heap,
        HeapSnapshot snapshot,
        TaskLeak leak,
        Dictionary<ulong, string> statics,
        ulong tracking,
        bool trackingRoots,
        TimeSpan budget,
        Stopwatch watch)
    {
        var chainOperations = leak.Operations.Select(o => Find(snapshot, o)).OfType<HeapOperation>().Distinct().ToList();
        if (chainOperations.Count == 0 || Find(snapshot, leak.Operations[0]) is not { } innermost)
        {
            return ("unknown — the leaked operation was not found on the heap (it may have completed meanwhile)", null);
        }

        var chain = new HashSet<ulong>(chainOperations.SelectMany(o => o.Addresses));
        var awaited = innermost.Awaited != 0 ? innermost.Awaited : innermost.Antecedent;
        if (awaited != 0)
        {
            chain.Remove(awaited);
        }

        // Promises between the methods of the chain (WhenAll, Unwrap …) are the chain's own, not outside helpers.
        foreach (var operation in snapshot.Operations)
        {
            if (operation.Kind == HeapObjectKind.Promise && operation.Address != awaited
                && operation.Continuations.Any(chain.Contains) && operation.Continuations.All(chain.Contains))
            {
                chain.Add(operation.Address);
            }
        }

        // Statics first: they make the paths people recognise.
        var roots = statics.Where(s => s.Key != tracking).Select(s => (Address: s.Key, Label: s.Value)).ToList();
        // GC handles only: enumerating stack roots walks live threads' stacks through the DAC, which crashed the
        // process in tests on .NET 10.0.12; running methods stand in for stacks below.
        foreach (var handle in heap.Runtime.EnumerateHandles())
        {
            var address = handle.Object.Address;
            if (handle.IsStrong && address != 0 && address != tracking)
            {
                roots.Add((address, statics.TryGetValue(address, out var name) ? name : Label(handle)));
            }
        }

        // Running code holds its locals on a stack: a running async method's box and a running delegate stand in for it.
        foreach (var operation in snapshot.Operations)
        {
            if (chain.Contains(operation.Address))
            {
                continue;
            }

            if (operation.Kind is HeapObjectKind.AsyncBox or HeapObjectKind.PoolingBox && operation.State == -1 && operation.StateMachineType is { } type)
            {
                roots.Add((operation.Address, $"running async method {TypeNames.AsyncMethod(type).Display}"));
            }
            else if (operation.Kind == HeapObjectKind.DelegateTask && operation.IsRunning && operation.Delegate != 0)
            {
                roots.Add((operation.Delegate, "a running delegate task"));
            }
        }

        var parents = new Dictionary<ulong, ulong>();
        var labels = new Dictionary<ulong, string>();
        var queue = new Queue<ulong>();
        foreach (var (address, label) in roots)
        {
            if (labels.TryAdd(address, label))
            {
                parents[address] = 0;
                queue.Enqueue(address);
            }
        }

        ulong reachedChain = roots.Select(r => r.Address).FirstOrDefault(chain.Contains);
        var reachedAwaited = awaited != 0 && parents.ContainsKey(awaited);
        var complete = true;
        var objects = heap.Runtime.Heap;
        var gcCount = GC.CollectionCount(0);
        var steps = 0;
        while (queue.Count > 0 && (reachedChain == 0 || (awaited != 0 && !reachedAwaited)))
        {
            if (watch.Elapsed >= budget)
            {
                complete = false;
                break;
            }

            // A GC ended the no-GC region (other threads allocated more than it holds): from here on objects move and
            // the walk would read garbage (an array whose length is any number). The reading is discarded and redone.
            if ((++steps & 0xFF) == 0 && GC.CollectionCount(0) != gcCount)
            {
                return (null, null);
            }

            var current = queue.Dequeue();
            if (chain.Contains(current) || current == tracking)
            {
                continue;
            }

            var value = objects.GetObject(current);
            if (!value.IsValid || !value.ContainsPointers)
            {
                continue;
            }

            foreach (var child in value.EnumerateReferenceAddresses(carefully: false, considerDependantHandles: true))
            {
                if ((++steps & 0xFFFF) == 0 && GC.CollectionCount(0) != gcCount)
                {
                    return (null, null);
                }

                if (child == 0 || !parents.TryAdd(child, current))
                {
                    continue;
                }

                if (chain.Contains(child) && reachedChain == 0)
                {
                    reachedChain = child;
                }

                if (child == awaited)
                {
                    reachedAwaited = true;
                }

                queue.Enqueue(child);
            }
        }

        var leaked = leak.Method;
        string? path = reachedChain != 0
            ? Render(heap, reachedChain, parents, labels) + (reachedChain == innermost.Address ? "" : $" → … → {leaked}")
            : !complete ? OverBudget(budget)
            : trackingRoots ? "only the runtime's task tracking (Task.s_currentActiveTasks) and its own await chain"
            : "nothing the in-process heap reader can see (a thread's stack or the finalizer queue)";

        string? verdict;
        if (awaited == 0)
        {
            verdict = innermost.Kind == HeapObjectKind.DelegateTask && innermost.IsRunning
                ? "running — its delegate is executing on a thread"
                : null;
        }
        else if (reachedAwaited)
        {
            verdict = "still reachable from " + Render(heap, awaited, parents, labels);
        }
        else
        {
            verdict = complete ? NeverResumes : OverBudget(budget);
        }

        return (path, verdict);
    }

    /// <summary>The operation of a snapshot that a source's operation stands for: same object, or same task id.</summary>
    private static HeapOperation? Find(HeapSnapshot snapshot, PendingOperation operation)
    {
        foreach (var key in operation.Keys)
        {
            if (key is HeapKey heapKey && heapKey.Snapshot == snapshot && snapshot.ByAddress.TryGetValue(heapKey.Address, out var same))
            {
                return same;
            }
        }

        var id = operation.TaskId;
        if (id == 0 && operation.Keys.OfType<Task>().FirstOrDefault() is { } task)
        {
            id = task.Id;
        }

        if (id != 0)
        {
            return snapshot.Operations.FirstOrDefault(o => o.TaskId == id);
        }

        // A heap operation from an earlier snapshot without an id (a pooling box): same method at the same await.
        return operation.StateMachineType is { } type
            ? snapshot.Operations.FirstOrDefault(o => o.StateMachineType == type && o.State == operation.State)
            : null;
    }

    private static string Render(ProcessHeap heap, ulong target, Dictionary<ulong, ulong> parents, Dictionary<ulong, string> labels)
    {
        var steps = new List<ulong>();
        for (var at = target; at != 0 && steps.Count < 64; at = parents.GetValueOrDefault(at))
        {
            steps.Add(at);
        }

        steps.Reverse();
        var parts = new List<string> { labels.GetValueOrDefault(steps[0], "a GC root") };
        var shown = steps.Count <= MaxPathLength ? steps.Skip(1) : steps.Skip(1).Take(MaxPathLength / 2).Concat(steps.TakeLast(MaxPathLength / 2));
        foreach (var step in shown)
        {
            if (parts.Count == MaxPathLength / 2 + 1 && steps.Count > MaxPathLength)
            {
                parts.Add("…");
            }

            parts.Add(Field(heap, parents.GetValueOrDefault(step), step) + heap.NameAt(step));
        }

        return string.Join(" → ", parts);
    }

    private static string Field(ProcessHeap heap, ulong parent, ulong child)
    {
        if (parent == 0)
        {
            return "";
        }

        foreach (var reference in heap.Runtime.Heap.GetObject(parent).EnumerateReferencesWithFields(carefully: false, considerDependantHandles: true))
        {
            if (reference.Object.Address == child && reference.Field?.Name is { } name)
            {
                return $".{name} ";
            }
        }

        return "";
    }

    private static string Label(ClrHandle handle) => handle.HandleKind switch
    {
        ClrHandleKind.Strong => "a strong GC handle",
        ClrHandleKind.Pinned or ClrHandleKind.AsyncPinned => "a pinned GC handle",
        var kind => $"a {kind} GC handle",
    };

    /// <summary>Objects a static reference field points at, named "static Type.Field".</summary>
    /// <summary>The longest the statics of all modules are read for labels (checked between modules): a module's type
    /// map read while types load can make the runtime's data access layer loop (seen under parallel tests).</summary>
    internal static TimeSpan StaticsBound { get; set; } = TimeSpan.FromSeconds(2);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>The file names of the modules that define the leaks' code: their statics are labelled first.</summary>
    private static HashSet<string> LeakModules(List<TaskLeak> leaks) =>
        leaks.SelectMany(leak => leak.Operations)
            .Select(o => o.StateMachineType?.Module ?? o.DelegateMethod?.Module)
            .OfType<System.Reflection.Module>()
            .Select(m => m.Name)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Static reference fields by the address of the object each holds, as path labels ("static Type.Field"); the
    /// leaks' own modules first, every module within <paramref name="bound"/>. What is not labelled is still searched:
    /// statics are reachable from the runtime's handles.
    /// </summary>
    private static Dictionary<ulong, string> StaticFields(ClrRuntime runtime, HashSet<string> firstModules, TimeSpan bound)
    {
        var names = new Dictionary<ulong, string>();
        if (bound <= TimeSpan.Zero)
        {
            return names;
        }

        var watch = Stopwatch.StartNew();
        foreach (var domain in runtime.AppDomains)
        {
            var modules = domain.Modules.OrderBy(m => firstModules.Contains(Path.GetFileName(m.Name ?? "")) ? 0 : 1);
            foreach (var module in modules)
            {
                if (watch.Elapsed >= bound)
                {
                    return names;
                }

                try
                {
                    AddStatics(runtime, domain, module, names);
                }
                catch (Exception)
                {
                    // A module whose map could not be read (a torn map): no labels from it.
                }
            }
        }

        return names;
    }

    private static void AddStatics(ClrRuntime runtime, ClrAppDomain domain, ClrModule module, Dictionary<ulong, string> names)
    {
#if CLRMD3
        var typesWithStaticFields = module.EnumerateTypeDefToMethodTableMap()
            .Select(entry => runtime.GetTypeByMethodTable(entry.MethodTable))
            .OfType<ClrType>()
            .Where(type => type.StaticFields.Length > 0);
        foreach (var type in typesWithStaticFields)
#else
        foreach (var type in module.EnumerateTypesWithStaticFields())
#endif
        {
            foreach (var field in type.StaticFields)
            {
                if (!field.IsObjectReference)
                {
                    continue;
                }

                try
                {
                    var value = field.ReadObject(domain);
                    if (value.Address != 0)
                    {
                        names.TryAdd(value.Address, $"static {ShortTypeName(type.Name)}.{field.Name}");
                    }
                }
                catch (Exception)
                {
                    // An uninitialised or torn static: not a label.
                }
            }
        }
    }

    private static string ShortTypeName(string? name)
    {
        if (name is null)
        {
            return "?";
        }

        var generic = name.IndexOf('<');
        var head = generic < 0 ? name : name[..generic];
        var dot = head.LastIndexOf('.');
        return (dot < 0 ? name : name[(dot + 1)..]).Replace('+', '.');
    }
}
