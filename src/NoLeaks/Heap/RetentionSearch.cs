using System.Diagnostics;
using System.Globalization;
using Microsoft.Diagnostics.Runtime;
using NoLeaks.Analysis;

namespace NoLeaks.Heap;

/// <summary>
/// Finds, for each reported leak, what keeps it alive and whether anything outside its own await chain could
/// still complete what it awaits. One breadth-first search per leak from the GC roots, never entering the chain's own
/// objects nor the runtime's tracking dictionary (Task.s_currentActiveTasks, which holds every tracked task). In this
/// process the roots are GC handles and statics, and the async methods and delegates running right now stand in for the
/// threads' stacks (not read in process); in another process or a dump (<see cref="SearchTarget"/>, the <c>noleaks</c>
/// command) they are every root ClrMD reads, the threads' stacks included. Bounded by a time budget; over budget, the
/// entry says so instead of guessing.
/// </summary>
internal static class RetentionSearch
{
    private const int MaxSearchedLeaks = 25;
    private const int MaxPathLength = 12;
    private const long SearchRegionBytes = 128L << 20;
    // Worded for what was searched: threads' stacks are not read in process, so a thread may still hold what it awaits.
    internal const string NeverResumes =
        "nothing on the heap outside its own chain can complete what it awaits (threads' stacks are not read: a running or blocked thread may still hold it)";

    // Worded for what was searched in another process or a dump: every root, read while nothing ran.
    internal const string NeverResumesInTarget =
        "can never resume — no root of the process (GC handles, statics, thread statics, every thread's stack, the finalization queue) reaches what it awaits except through its own chain";

    /// <summary>What differs between a search of this process and one of another process or a dump.</summary>
    /// <param name="MaxLeaks">How many leaks are searched at most, in their order (the budget bounds the rest).</param>
    /// <param name="BudgetName">The setting that sets the budget, named where the budget ran out.</param>
    /// <param name="AllRoots">True: every root ClrMD reads, threads' stacks included (another process, or a dump).</param>
    private sealed record Settings(int MaxLeaks, string BudgetName, bool AllRoots);

    private static readonly Settings InProcess = new(MaxSearchedLeaks, "NoLeaksOptions.RetentionBudget", AllRoots: false);

    /// <summary>
    /// Searches another process (suspended while it is read) or a dump, whose heap does not change: the leaks analysed
    /// from <paramref name="snapshot"/>, every one of them within <paramref name="budget"/> in all; those the budget does
    /// not reach say so. Never throws.
    /// </summary>
    /// <param name="heap">The other process or dump, open (the process suspended).</param>
    /// <param name="snapshot">The snapshot the leaks were analysed from.</param>
    /// <param name="leaks">The leaks, in the order they are searched.</param>
    /// <param name="budget">How long all the searches may take together.</param>
    /// <param name="budgetName">The option that sets the budget, named where the budget ran out.</param>
    public static List<TaskLeak> SearchTarget(ProcessHeap heap, HeapSnapshot snapshot, List<TaskLeak> leaks, TimeSpan budget, string budgetName)
    {
        if (heap.InProcess)
        {
            throw new InvalidOperationException("this process's heap is searched by Enrich, within a no-GC region");
        }

        try
        {
            return Search(heap, snapshot, leaks, budget, Stopwatch.StartNew(), trackingRoots: false, new Settings(int.MaxValue, budgetName, AllRoots: true))
                ?? leaks;
        }
        catch (Exception e)
        {
            var failed = $"unknown — the heap search failed ({e.GetType().Name}: {e.Message})";
            return [.. leaks.Select(leak => leak.WithRetention(failed, failed))];
        }
    }

    /// <summary>What a leak's path and verdict say when other threads' allocations ended every reading of the heap.</summary>
    internal const string KeptChanging =
        "unknown — the heap kept changing while it was searched (other threads allocated more than the search could hold still)";

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

    /// <summary>How many readings of the heap the last in-process search took (tests: one, unless other threads allocate).</summary>
    internal static int LastAttempts { get; private set; }

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

        // Outside the search's no-GC region: the child takes a few hundred milliseconds, in which other threads allocate.
        if (ReadStaticLabels)
        {
            _ = StaticLabels.Shared.Refresh(LeakModules(leaks));
        }

        var watch = Stopwatch.StartNew();
        for (var attempt = 0; attempt < 4 && (attempt == 0 || watch.Elapsed < budget); attempt++)
        {
            LastAttempts = attempt + 1;
            // The search reads for up to its budget while the test process goes on allocating: a larger no-GC region
            // than a snapshot's, so that other threads' allocations rarely end it, and larger with each attempt up to
            // 512 MB (a region commits only what is allocated in it, but the heap may grow by that much before a GC).
            var (snapshot, enriched) = heap.Capture<List<TaskLeak>>(
                forceGc: true, snapshot => Search(heap, snapshot, leaks, budget, watch, trackingRoots, InProcess)!, SearchRegionBytes << Math.Min(attempt, 2));
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

        // Not a failure of the search: other threads allocated more than every region held (tests running in parallel
        // that allocate heavily). Each entry says so.
        return [.. leaks.Select(leak => leak.Kind == LeakKind.AbandonedAsyncMethod ? leak : leak.WithRetention(KeptChanging, KeptChanging))];
    }

    private static List<TaskLeak>? Search(
        ProcessHeap heap, HeapSnapshot snapshot, List<TaskLeak> leaks, TimeSpan budget, Stopwatch watch, bool trackingRoots, Settings settings)
    {
        var result = new List<TaskLeak>(leaks.Count);
        // In this process the statics' slots come from the child process (StaticLabels, read before the search); what
        // they hold is read here, inside the search's no-GC region. Another process or a dump does not change while it
        // is read: its modules' type maps are read directly.
        var statics = !heap.InProcess ? StaticFields(heap.Runtime, [], StaticsBound) : ReadStaticLabels ? StaticLabels.Shared.Held(heap.Reader) : [];
        // Another process's Task.s_currentActiveTasks (non-null where a debugger switched tracking on) is known by its
        // static's label: reading that static through the DAC by name ended the process in a segmentation fault
        // (GetStaticFieldByName on Task, .NET 10.0.12). Unlabelled (the statics ran out of time), it is searched like any
        // other object, which can only make a verdict weaker ("still reachable from …"), never wrongly stronger.
        var tracking = heap.InProcess
            ? ProcessHeap.ActiveTasksDictionary()
            : statics.FirstOrDefault(s => s.Value == "static Task.s_currentActiveTasks").Key;
        var roots = Roots(heap, statics, tracking, settings.AllRoots);
        var promises = snapshot.Operations.Where(o => o.Kind == HeapObjectKind.Promise).ToList();
        var shared = settings.AllRoots ? SharedWalk.Run(heap, snapshot, leaks.Take(settings.MaxLeaks), promises, roots, tracking, budget, watch) : null;
        for (var i = 0; i < leaks.Count; i++)
        {
            var leak = leaks[i];
            if (i >= settings.MaxLeaks || leak.Kind == LeakKind.AbandonedAsyncMethod)
            {
                result.Add(leak);
                continue;
            }

            if (watch.Elapsed >= budget)
            {
                var over = OverBudget(budget, settings);
                result.Add(leak.WithRetention(over, over));
                continue;
            }

            try
            {
                var found = SearchOne(heap, snapshot, promises, leak, roots, tracking, trackingRoots, budget, watch, settings, shared);
                if (found is not { } pathAndVerdict)
                {
                    return null; // a GC in this process spoiled the reading: read again
                }

                result.Add(leak.WithRetention(pathAndVerdict.Path, pathAndVerdict.Verdict));
            }
            catch (Exception e)
            {
                var failed = $"unknown — the heap search failed ({e.GetType().Name})";
                result.Add(leak.WithRetention(failed, failed));
            }
        }

        return result;
    }

    private static string OverBudget(TimeSpan budget, Settings settings) =>
        string.Create(CultureInfo.InvariantCulture, $"unknown — the heap search ran out of its budget of {budget.TotalMilliseconds:0} ms ({settings.BudgetName})");

    /// <summary>
    /// The roots every leak's search starts from, labelled, statics first (they make the paths people recognise). In this
    /// process: GC handles only (enumerating stack roots walks live threads' stacks through the DAC, which crashed the
    /// process in tests on .NET 10.0.12; running methods stand in for stacks, per leak). In another process or a dump:
    /// every root ClrMD reads (strong handles, statics, thread statics, threads' stacks, the finalization queue).
    /// </summary>
    private static List<(ulong Address, string Label)> Roots(ProcessHeap heap, Dictionary<ulong, string> statics, ulong tracking, bool allRoots)
    {
        var roots = statics.Where(s => s.Key != tracking).Select(s => (Address: s.Key, Label: s.Value)).ToList();
#if !CLRMD3
        if (allRoots)
        {
            foreach (var root in heap.Runtime.Heap.EnumerateRoots())
            {
                var address = root.Object.Address;
                if (address != 0 && address != tracking)
                {
                    roots.Add((address, statics.TryGetValue(address, out var name) ? name : Label(root)));
                }
            }

            return roots;
        }
#else
        if (allRoots)
        {
            throw new PlatformNotSupportedException("reading another process needs the net10.0 build (ClrMD 4)");
        }
#endif

        foreach (var handle in heap.Runtime.EnumerateHandles())
        {
            var address = handle.Object.Address;
            if (handle.IsStrong && address != 0 && address != tracking)
            {
                roots.Add((address, statics.TryGetValue(address, out var name) ? name : Label(handle)));
            }
        }

        return roots;
    }

    private static (string? Path, string? Verdict)? SearchOne(
        ProcessHeap heap,
        HeapSnapshot snapshot,
        List<HeapOperation> promises,
        TaskLeak leak,
        List<(ulong Address, string Label)> baseRoots,
        ulong tracking,
        bool trackingRoots,
        TimeSpan budget,
        Stopwatch watch,
        Settings settings,
        SharedWalk? shared)
    {
        if (ChainOf(snapshot, leak, promises) is not var (innermost, chain, awaited))
        {
            return ("unknown — the leaked operation was not found on the heap (it may have completed meanwhile)", null);
        }

        if (shared?.Answer(heap, leak, innermost, chain, awaited) is { } answered)
        {
            return answered;
        }

        var roots = baseRoots;
        if (!settings.AllRoots)
        {
            // Running code holds its locals on a stack: a running async method's box and a running delegate stand in for it.
            roots = [.. baseRoots];
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

        // Only this process's own GCs move what is read; another process's heap does not change while it is read.
        var gcCount = GC.CollectionCount(0);
        bool Spoiled() => heap.InProcess && GC.CollectionCount(0) != gcCount;
        var steps = 0;
        var words = new WordCache(heap.Reader, heap.Runtime.Heap);
        while (queue.Count > 0 && (reachedChain == 0 || (awaited != 0 && !reachedAwaited)))
        {
            if (watch.Elapsed >= budget)
            {
                complete = false;
                break;
            }

            // A GC ended the no-GC region (other threads allocated more than it holds): from here on objects move and
            // the walk would read garbage (an array whose length is any number). The reading is discarded and redone.
            if ((++steps & 0xFF) == 0 && Spoiled())
            {
                return null;
            }

            var current = queue.Dequeue();
            if (chain.Contains(current) || current == tracking)
            {
                continue;
            }

            foreach (var child in References(heap, current))
            {
                if ((++steps & 0xFFF) == 0)
                {
                    if (Spoiled())
                    {
                        return null;
                    }

                    // One array can hold millions of references: the budget is checked within an object too.
                    if (watch.Elapsed >= budget)
                    {
                        complete = false;
                        break;
                    }
                }

                if (child == 0 || parents.ContainsKey(child))
                {
                    continue;
                }

                // An object that holds no references leads nowhere: unless it is what the search looks for, it is not
                // remembered nor walked (on a large heap most objects are strings and arrays of numbers).
                var target = child == awaited || chain.Contains(child);
                if (!target && words.Read(child, out var methodTable) && heap.HoldsReferencesOfType(methodTable) == false)
                {
                    continue;
                }

                parents.Add(child, current);
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
            : !complete ? OverBudget(budget, settings)
            : settings.AllRoots ? "nothing: no root reaches it (garbage the GC has not collected yet)"
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
            verdict = !complete ? OverBudget(budget, settings) : settings.AllRoots ? NeverResumesInTarget : NeverResumes;
        }

        return (path, verdict);
    }

    /// <summary>
    /// Reads objects' first words through 64 KB pages of memory kept for one search: objects allocated together lie
    /// together, and a read of the process's memory costs a system call. Only objects of the older generations (and
    /// frozen ones) are read through pages: nothing is allocated there while the search's no-GC region holds, whereas a
    /// young generation's page read earlier could show a dead object's word where a new object now lies. A page goes
    /// to one of 256 slots by its address, and a slot's buffer is allocated once and then reused: at most 16 MB per
    /// search, whatever the size of the heap (a buffer per page read would allocate as much as the heap holds, more than
    /// the search's no-GC region allows: the region would end and the search be spoiled).
    /// </summary>
    private sealed class WordCache(IDataReader reader, ClrHeap heap)
    {
        private const int PageBits = 16;
        private const int PageSize = 1 << PageBits;
        private const int Slots = 256;

        // Per slot: the page it holds plus one (0: none), whether that page could not be read, and its bytes.
        private readonly ulong[] _pages = new ulong[Slots];
        private readonly bool[] _unreadable = new bool[Slots];
        private readonly byte[]?[] _bytes = new byte[Slots][];

        public bool Read(ulong address, out ulong word)
        {
            var offset = (int)(address & (PageSize - 1));
            if (offset > PageSize - sizeof(ulong)
                || heap.GetSegmentByAddress(address)?.GetGeneration(address) is not (Generation.Generation1 or Generation.Generation2 or Generation.Frozen))
            {
                return reader.Read(address, out word);
            }

            var page = address >> PageBits;
            var slot = (int)(page % Slots);
            var bytes = _bytes[slot] ??= new byte[PageSize];
            if (_pages[slot] != page + 1)
            {
                _pages[slot] = page + 1;
                _unreadable[slot] = reader.Read(page << PageBits, bytes) != PageSize;
            }

            if (_unreadable[slot])
            {
                return reader.Read(address, out word);
            }

            word = BitConverter.ToUInt64(bytes, offset);
            return true;
        }
    }

    /// <summary>The addresses an object references; none for an object that cannot be read or holds no references.</summary>
    private static IEnumerable<ulong> References(ProcessHeap heap, ulong address)
    {
        var value = heap.ObjectAt(address);
        return value.IsValid && value.ContainsPointers ? value.EnumerateReferenceAddresses(carefully: false, considerDependantHandles: true) : [];
    }

    /// <summary>
    /// The leak's innermost operation, the addresses of its own await chain (the promises between its methods included),
    /// and what it awaits (not part of the chain; 0: nothing); null when the leak is not on the snapshot's heap.
    /// </summary>
    private static (HeapOperation Innermost, HashSet<ulong> Chain, ulong Awaited)? ChainOf(HeapSnapshot snapshot, TaskLeak leak, List<HeapOperation> promises)
    {
        var chainOperations = leak.Operations.Select(o => Find(snapshot, o)).OfType<HeapOperation>().Distinct().ToList();
        if (chainOperations.Count == 0 || Find(snapshot, leak.Operations[0]) is not { } innermost)
        {
            return null;
        }

        var chain = new HashSet<ulong>(chainOperations.SelectMany(o => o.Addresses));
        var awaited = innermost.Awaited != 0 ? innermost.Awaited : innermost.Antecedent;
        if (awaited != 0)
        {
            chain.Remove(awaited);
        }

        // Promises between the methods of the chain (WhenAll, Unwrap …) are the chain's own, not outside helpers.
        foreach (var operation in promises)
        {
            if (operation.Address != awaited
                && operation.Continuations.Any(chain.Contains) && operation.Continuations.All(chain.Contains))
            {
                chain.Add(operation.Address);
            }
        }

        return (innermost, chain, awaited);
    }

    /// <summary>
    /// One walk from the roots for all the leaks of another process or a dump, entering none of their chains: on a large
    /// heap a walk per leak reads the whole heap each time. What it reaches is reached outside every chain, so its paths
    /// answer for each leak; what it does not reach may still be reachable through another leak's chain, and is left to
    /// that leak's own walk (a "can never resume" is never concluded from this one).
    /// </summary>
    private sealed class SharedWalk
    {
        private readonly Dictionary<ulong, ulong> _parents = [];
        private readonly Dictionary<ulong, string> _labels = [];
        private readonly Dictionary<ulong, int> _order = [];

        public static SharedWalk Run(
            ProcessHeap heap, HeapSnapshot snapshot, IEnumerable<TaskLeak> leaks, List<HeapOperation> promises, List<(ulong Address, string Label)> roots, ulong tracking, TimeSpan budget, Stopwatch watch)
        {
            var walk = new SharedWalk();
            var barrier = new HashSet<ulong>();
            var awaitedByAny = new HashSet<ulong>();
            foreach (var leak in leaks)
            {
                if (leak.Kind != LeakKind.AbandonedAsyncMethod && leak.Operations.Count > 0 && ChainOf(snapshot, leak, promises) is var (_, chain, awaited))
                {
                    barrier.UnionWith(chain);
                    awaitedByAny.Add(awaited);
                }
            }

            barrier.ExceptWith(awaitedByAny);
            var queue = new Queue<ulong>();
            foreach (var (address, label) in roots)
            {
                if (walk._labels.TryAdd(address, label))
                {
                    walk._parents[address] = 0;
                    walk._order[address] = walk._order.Count;
                    queue.Enqueue(address);
                }
            }

            while (queue.Count > 0 && watch.Elapsed < budget)
            {
                var current = queue.Dequeue();
                if (barrier.Contains(current) || current == tracking)
                {
                    continue;
                }

                foreach (var child in References(heap, current))
                {
                    if (child != 0 && walk._parents.TryAdd(child, current))
                    {
                        walk._order[child] = walk._order.Count;
                        queue.Enqueue(child);
                    }
                }
            }

            return walk;
        }

        /// <summary>The leak's path and verdict from this walk, or null when only the leak's own walk can tell.</summary>
        public (string? Path, string? Verdict)? Answer(ProcessHeap heap, TaskLeak leak, HeapOperation innermost, HashSet<ulong> chain, ulong awaited)
        {
            // The chain object reached first: the shortest path to the chain.
            var reachedChain = chain.Where(_order.ContainsKey).OrderBy(a => _order[a]).FirstOrDefault();
            if (reachedChain == 0 || !Outside(reachedChain, chain, allowLast: true))
            {
                return null;
            }

            var path = Render(heap, reachedChain, _parents, _labels) + (reachedChain == innermost.Address ? "" : $" → … → {leak.Method}");
            if (awaited == 0)
            {
                return (path, innermost.Kind == HeapObjectKind.DelegateTask && innermost.IsRunning ? "running — its delegate is executing on a thread" : null);
            }

            return _parents.ContainsKey(awaited) && Outside(awaited, chain, allowLast: false)
                ? (path, "still reachable from " + Render(heap, awaited, _parents, _labels))
                : null;
        }

        /// <summary>True when the path to <paramref name="target"/> crosses none of the chain's objects (but the target).</summary>
        private bool Outside(ulong target, HashSet<ulong> chain, bool allowLast)
        {
            var steps = 0;
            for (var at = allowLast ? _parents.GetValueOrDefault(target) : target; at != 0 && steps++ < 100_000; at = _parents.GetValueOrDefault(at))
            {
                if (chain.Contains(at))
                {
                    return false;
                }
            }

            return true;
        }
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

        var value = heap.ObjectAt(parent);
        return value.Type is { } type && FieldHolding(heap, type, parent, interior: false, child, depth: 0) is { } name ? $".{name} " : "";
    }

    /// <summary>
    /// The field of an object (or of a struct inside it, named outer.inner) that holds <paramref name="child"/>; null for
    /// an array element or none. Reads only pointers, never the objects they lead to (see ProcessHeap.ObjectAt).
    /// </summary>
    private static string? FieldHolding(ProcessHeap heap, ClrType type, ulong address, bool interior, ulong child, int depth)
    {
        foreach (var field in type.Fields)
        {
            if (field.IsObjectReference)
            {
                if (heap.Reader.Read(field.GetAddress(address, interior), out ulong reference) && reference == child)
                {
                    return field.Name;
                }
            }
            else if (field.IsValueType && depth < 2 && field.Type is { } inner
                && FieldHolding(heap, inner, field.GetAddress(address, interior), interior: true, child, depth + 1) is { } name)
            {
                return $"{field.Name}.{name}";
            }
        }

        return null;
    }

#if !CLRMD3
    private static string Label(ClrRoot root) => root switch
    {
        ClrStackRoot { StackFrame: { Method: { } method } frame } =>
            $"a local of {ShortTypeName(method.Type?.Name)}.{method.Name} on thread {frame.Thread?.ManagedThreadId.ToString(CultureInfo.InvariantCulture) ?? "?"}",
        ClrStackRoot => "a thread's stack",
        _ => root.RootKind switch
        {
            ClrRootKind.FinalizerQueue => "the finalization queue",
            ClrRootKind.StaticVar => "a static",
            ClrRootKind.ThreadStaticVar => "a thread static",
            ClrRootKind.StrongHandle => "a strong GC handle",
            ClrRootKind.PinnedHandle or ClrRootKind.AsyncPinnedHandle => "a pinned GC handle",
            var kind => $"a {kind} GC root",
        },
    };
#endif

    private static string Label(ClrHandle handle) => handle.HandleKind switch
    {
        ClrHandleKind.Strong => "a strong GC handle",
        ClrHandleKind.Pinned or ClrHandleKind.AsyncPinned => "a pinned GC handle",
        var kind => $"a {kind} GC handle",
    };

    /// <summary>The longest the statics of another process's or a dump's modules are read for labels (checked between
    /// modules).</summary>
    internal static TimeSpan StaticsBound { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>False: this process's statics are not labelled (tests of what a search finds without them).</summary>
    internal static bool ReadStaticLabels { get; set; } = true;

    /// <summary>The file names of the modules that define the leaks' code: their statics are labelled first.</summary>
    private static HashSet<string> LeakModules(List<TaskLeak> leaks) =>
        leaks.SelectMany(leak => leak.Operations)
            .Select(o => o.StateMachineType?.Module ?? o.DelegateMethod?.Module)
            .OfType<System.Reflection.Module>()
            .Select(m => m.Name)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Static reference fields of another process or a dump (which do not change while they are read) by the address
    /// of the object each holds, as path labels ("static Type.Field"); <paramref name="firstModules"/> first, every
    /// module within <paramref name="bound"/>. What is not labelled is still searched: statics are reachable from the
    /// runtime's handles.
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
        foreach (var (slot, label) in NoLeaks.Stacks.StaticSlotWriter.Slots(runtime, domain, module))
        {
            // The address it holds, read as a pointer: ClrMD's ReadObject would hand the word there to the data access
            // layer as a method table unchecked (see ProcessHeap.LooksLikeMethodTable).
            if (runtime.DataTarget.DataReader.ReadPointer(slot, out var value) && value != 0)
            {
                names.TryAdd(value, label);
            }
        }
    }

    private static string ShortTypeName(string? name) => NoLeaks.Stacks.StaticSlotWriter.ShortTypeName(name);
}
