using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;
using NoLeaks.Tracking;

namespace NoLeaks.Heap;

/// <summary>
/// ClrMD attached to this process, kept between snapshots (attach ≈300 ms once, then a FlushCachedData per
/// snapshot). A snapshot walks the GC segments itself in 1 MB chunks, stepping by method-table sizes, and asks
/// ClrMD only about method tables it has not seen. Captures are serialised; nothing here throws out of
/// <see cref="Capture"/>: failures become warnings of the snapshot.
/// </summary>
internal sealed unsafe partial class ProcessHeap : IDisposable
{
    // Task.TaskStateFlags (.NET Core 1.0 – 11; checked against Task.Status by the heap tests).
    public const int TaskStateDelegateInvoked = 0x20000;
    public const int TaskStateStarted = 0x10000;
    public const int TaskStateWaitingForActivation = 0x2000000;
    public const int TaskStateCompletedMask = 0x200000 | 0x400000 | 0x1000000; // faulted | canceled | ran to completion

    private const int MinObjectSize = 24;
    private const int MaxObjectRead = 4096;

    private static readonly int PointerSize = IntPtr.Size;
    private static readonly Type? AsyncBoxDefinition =
        typeof(AsyncTaskMethodBuilder<>).GetNestedType("AsyncStateMachineBox`1", BindingFlags.NonPublic);

    // With TplEventSource keyword 0x100 on, boxes are this finalizable subclass (.NET Core 3.0 – 11).
    private static readonly Type? DebugBoxDefinition =
        typeof(AsyncTaskMethodBuilder<>).GetNestedType("DebugFinalizableAsyncStateMachineBox`1", BindingFlags.NonPublic);

    private static readonly Type? PoolingBoxDefinition =
        typeof(PoolingAsyncValueTaskMethodBuilder<>).GetNestedType("StateMachineBox`1", BindingFlags.NonPublic);

    private readonly object _gate = new();
    private readonly Dictionary<ulong, TypeInfo> _types = [];
    private readonly TypeInfo?[] _recentTypes = new TypeInfo?[8192];
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(1 << 20, pinned: true);
    private readonly string _dacPath = "";
    private readonly bool _snapshotPerCapture;
    private readonly bool _inProcess;
    private readonly TargetTypes _typeMap;
    private DataTarget _target = null!;
    private ClrRuntime _runtime = null!;
    private IDataReader _reader = null!;
    private MemoryRange[] _allocationContexts = [];
    private readonly Func<ulong, ulong[]> _readContinuations;
    private readonly ulong _walkLimit = ulong.MaxValue;
    private TaskLayout _layout = null!;

    private ProcessHeap(bool snapshotPerCapture)
    {
        _readContinuations = ContinuationsOf;
        _snapshotPerCapture = snapshotPerCapture;
        _inProcess = true;
        _typeMap = OwnProcessTypes.Instance;
        _dacPath = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), DacFileName);
        Attach();
    }

#if !CLRMD3
    private ProcessHeap(DataTarget target, ulong walkLimit)
    {
        _readContinuations = ContinuationsOf;
        _walkLimit = walkLimit;
        _target = target;
        if (_target.ClrVersions.Length == 0)
        {
            throw new InvalidOperationException("no .NET runtime was found in the process or dump");
        }

        // The DAC of the target's own runtime, beside it: on this machine for a live process or a dump written here.
        // The runtime's module version can read as 0.0 (as in process), hence ignoreMismatch for that DAC.
        var clr = _target.ClrVersions[0];
        var dac = Path.Combine(Path.GetDirectoryName(clr.ModuleInfo.FileName) ?? "", DacFileName);
        // Without it ClrMD would look for one on a symbol server (with assemblies NoLeaks does not ship).
        _runtime = File.Exists(dac)
            ? clr.CreateRuntime(dac, ignoreMismatch: true)
            : throw new FileNotFoundException($"the runtime's debugging library ({DacFileName}) is not at {dac}: a dump is read on a machine with the runtime it was written with, at the same path");
        _reader = _target.DataReader;
        var types = new OtherProcessTypes(_runtime);
        _typeMap = types;
        _layout = TaskLayout.Read(_runtime, types);
        ProbeMethodTableLayout();
    }

    /// <summary>
    /// Reads another process (attached, suspended) or a dump through <paramref name="target"/>, which the heap owns from
    /// now on. Its snapshots run no GC: the target's heap does not change while it is read.
    /// </summary>
    /// <param name="target">The process or dump.</param>
    /// <param name="walkLimit">How many bytes of the heap a snapshot walks at most, segment after segment: all of it
    /// unless given. A reading made only to prepare this process for the next one (its code compiled, assemblies loaded)
    /// walks part of the heap.</param>
    public static ProcessHeap Open(DataTarget target, ulong walkLimit = ulong.MaxValue) => new(target, walkLimit);
#endif

    private static string DacFileName =>
        OperatingSystem.IsWindows() ? "mscordaccore.dll" : OperatingSystem.IsMacOS() ? "libmscordaccore.dylib" : "libmscordaccore.so";

    /// <summary>How many snapshots this heap has taken (tests count them).</summary>
    internal long Captures { get; private set; }

    /// <summary>Why a heap cannot be read in this process, or null.</summary>
    public static string? PlatformUnavailableReason =>
        !(OperatingSystem.IsLinux() || OperatingSystem.IsWindows())
            ? $"the heap source supports Linux and Windows, not {RuntimeInformation.OSDescription}"
            : RuntimeFeature.IsDynamicCodeSupported ? null : "the heap source needs a JIT runtime (not NativeAOT)";

    /// <summary>Attaches to this process; throws when it cannot (the caller turns that into a reason).</summary>
    public static ProcessHeap Open() =>
        PlatformUnavailableReason is { } reason ? throw new PlatformNotSupportedException(reason) : new ProcessHeap(OperatingSystem.IsWindows());

    public ClrRuntime Runtime => _runtime;

    public IDataReader Reader => _reader;

    /// <summary>Test hook: every read of process memory fails from now on (Linux reader only).</summary>
    internal bool RefuseReads
    {
        set
        {
            if (_reader is InProcessDataReader inProcess)
            {
                inProcess.RefuseReads = value;
            }
        }
    }

    private void Attach()
    {
        if (_snapshotPerCapture)
        {
            // Windows: ClrMD cannot attach to its own process; a snapshot (a dump of this process) can be read.
            _target = DataTarget.CreateSnapshotAndAttach(Environment.ProcessId);
        }
        else
        {
#if CLRMD3
            _target = new DataTarget(new CustomDataTarget(new InProcessDataReader()) { FileLocator = NoFileLocator.Instance });
#else
            _target = new DataTarget(new InProcessDataReader(), new DataTargetOptions { FileLocator = NoFileLocator.Instance });
#endif
        }

        _reader = _target.DataReader;
        if (_target.ClrVersions.Length == 0)
        {
            throw new InvalidOperationException("ClrMD found no CLR in this process");
        }

        // Module versions read as 0.0 in process, hence ignoreMismatch; the DAC beside the runtime is the right one.
        _runtime = File.Exists(_dacPath)
            ? _target.ClrVersions[0].CreateRuntime(_dacPath, ignoreMismatch: true)
            : _target.ClrVersions[0].CreateRuntime();
        _layout = TaskLayout.Read(_runtime, _typeMap);
        ProbeMethodTableLayout();
    }

    /// <summary>
    /// Forces a full blocking GC (without it, dead and half-written objects are read) and reads every pending
    /// task and state-machine box. Never throws: a failure is a snapshot with a warning and no operations.
    /// In this process, a reading during which a GC ran anyway (other threads allocated more than the no-GC region
    /// allows, or called GC.Collect) is taken again in a larger region: objects the GC moved while the walk ran are
    /// missing from it. After <see cref="MaxTornReadings"/> such readings the last comes back with a warning.
    /// </summary>
    public HeapSnapshot Capture(bool forceGc = true)
    {
        for (var reading = 0; ; reading++)
        {
            var (snapshot, consistent) = Capture(forceGc, static _ => Consistent, DefaultRegionBytes << Math.Min(2 * reading, MaxRegionShift));
            if (consistent is not null || snapshot.Warnings.Count > 0)
            {
                return snapshot;
            }

            if (reading + 1 == MaxTornReadings)
            {
                return new HeapSnapshot(
                    [.. snapshot.Operations],
                    [$"a GC ran while the heap was read, {MaxTornReadings} times in a row: work the GC moved may be missing from the snapshot"],
                    snapshot.ObjectCount,
                    snapshot.TornObjects,
                    snapshot.Elapsed) { GcCount = snapshot.GcCount };
            }
        }
    }

    /// <summary>How many readings a GC may spoil in a row before <see cref="Capture(bool)"/> gives up.</summary>
    internal const int MaxTornReadings = 5;

    /// <summary>The largest no-GC region asked for: <see cref="DefaultRegionBytes"/> shifted left by this much.</summary>
    internal const int MaxRegionShift = 6;

    private static readonly object Consistent = new();

    /// <summary>
    /// Takes a snapshot and runs <paramref name="read"/> on it while its addresses are valid: no GC may run in
    /// between (a no-GC region covers the walk and the read, other snapshots wait for the lock). Result null: a GC
    /// ran anyway (another thread allocated more than the region allows, or called GC.Collect) — read again.
    /// <para>
    /// A walk is not atomic: other threads run while it reads, so work that moves from one object to a new one
    /// during the walk can be missed by it (a <c>Task.Run</c> delegate that completes after creating its async
    /// lambda's box where the walk had already passed). <see cref="HeapSource"/> therefore reads until two snapshots
    /// agree.
    /// </para>
    /// </summary>
    /// <param name="forceGc">Whether to run a full blocking GC first (without it, dead objects are read too).</param>
    /// <param name="read">What to read while the snapshot's addresses are valid.</param>
    /// <param name="regionBytes">What the whole process may allocate while <paramref name="read"/> runs without a GC
    /// ending the no-GC region: a long read (the retention search) asks for more.</param>
    public (HeapSnapshot Snapshot, T? Result) Capture<T>(bool forceGc, Func<HeapSnapshot, T>? read, long regionBytes = DefaultRegionBytes)
        where T : class
    {
        lock (_gate)
        {
            Captures++;
            var watch = Stopwatch.StartNew();
            var noGcRegion = false;
            try
            {
                // Another process's heap (suspended, or a dump) does not change while it is read: no GC, no region.
                if (forceGc && _inProcess)
                {
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
                }

                noGcRegion = _inProcess && TryStartNoGcRegion(regionBytes);
                var gcCount = GC.CollectionCount(0);
                var snapshot = Snap(watch, gcCount);
                var result = read is not null && snapshot.Warnings.Count == 0 ? read(snapshot) : null;
                var spoiled = SpoilReadingOnThisThread?.Invoke() == true || (_inProcess && GC.CollectionCount(0) != gcCount);
                return (snapshot, spoiled ? null : result);
            }
            catch (Exception e)
            {
                return (new HeapSnapshot([], [$"the heap snapshot failed: {e.GetType().Name}: {e.Message}"], 0, 0, watch.Elapsed), null);
            }
            finally
            {
                if (noGcRegion)
                {
                    try
                    {
                        GC.EndNoGCRegion();
                    }
                    catch (InvalidOperationException)
                    {
                        // The region was lost (a GC ran): the GC count tells the caller.
                    }
                }
            }
        }
    }

    /// <summary>
    /// Which of <paramref name="targets"/> each of <paramref name="roots"/> reaches through object references, read in a
    /// no-GC region so that addresses stay valid (no full walk, no forced GC: only what the roots reach is read).
    /// Returns, per target, the index of the first root found to reach it (-1: none), or null when a GC ran during the
    /// read; <paramref name="complete"/> is false when the budget ran out first.
    /// </summary>
    public unsafe int[]? Reach(IReadOnlyList<object> roots, IReadOnlyList<IReadOnlyList<object>> targets, TimeSpan budget, out bool complete)
    {
        complete = false;
        lock (_gate)
        {
            var noGcRegion = TryStartNoGcRegion(DefaultRegionBytes);
            try
            {
                var gcCount = GC.CollectionCount(0);
                Refresh();
                var watch = Stopwatch.StartNew();
                var wanted = new Dictionary<ulong, int>();
                for (var i = 0; i < targets.Count; i++)
                {
                    foreach (var target in targets[i])
                    {
                        wanted.TryAdd(AddressOf(target), i);
                    }
                }

                var found = Enumerable.Repeat(-1, targets.Count).ToArray();
                var left = targets.Count;
                var seen = new HashSet<ulong>();
                var queue = new Queue<(ulong Address, int Root)>();
                for (var r = 0; r < roots.Count; r++)
                {
                    var address = AddressOf(roots[r]);
                    if (seen.Add(address))
                    {
                        queue.Enqueue((address, r));
                    }
                }

                // Not followed: the runtime's tracking dictionary (it holds every pending task), NoLeaks' own objects (a
                // scope leads to the tracking), and execution contexts: an object that captured the ambient context of a
                // test (a host's service, a timer) does not own what that context's AsyncLocals lead to.
                var tracking = ActiveTasksDictionary();
                var ownModule = Path.GetFileName(typeof(ProcessHeap).Assembly.Location);
                var steps = 0;
                while (queue.Count > 0 && left > 0)
                {
                    // Over budget, or a GC ended the no-GC region (objects move: what is read from here on is garbage).
                    if (watch.Elapsed >= budget || ((++steps & 0xFF) == 0 && GC.CollectionCount(0) != gcCount))
                    {
                        return GC.CollectionCount(0) == gcCount ? found : null;
                    }

                    var (current, root) = queue.Dequeue();
                    if (wanted.TryGetValue(current, out var index) && found[index] < 0)
                    {
                        found[index] = root;
                        left--;
                    }

                    var value = ObjectAt(current);
                    if (!value.IsValid || !value.ContainsPointers || current == tracking
                        || value.Type is { } clrType && (clrType.Name == "System.Threading.ExecutionContext" || Path.GetFileName(clrType.Module?.Name) == ownModule))
                    {
                        continue;
                    }

                    foreach (var child in value.EnumerateReferenceAddresses(carefully: false, considerDependantHandles: true))
                    {
                        if (child != 0 && seen.Add(child))
                        {
                            queue.Enqueue((child, root));
                        }
                    }
                }

                complete = true;
                return GC.CollectionCount(0) == gcCount ? found : null;
            }
            finally
            {
                if (noGcRegion)
                {
                    try
                    {
                        GC.EndNoGCRegion();
                    }
                    catch (InvalidOperationException)
                    {
                        // The region was lost (a GC ran): the GC count told the caller.
                    }
                }
            }
        }
    }

    /// <summary>The address of a live object: valid until the next GC (callers hold a no-GC region).</summary>
    private static unsafe ulong AddressOf(object value) => (ulong)*(nint*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref value);

    /// <summary>
    /// Tests' seam: asked after each reading made on this thread; true counts the reading as spoiled by a GC (the caller
    /// reads again), without running one in the middle of a read. Per thread, so that other tests' readings of the one
    /// heap the process reads are not touched.
    /// </summary>
    [ThreadStatic]
    internal static Func<bool>? SpoilReadingOnThisThread;

    /// <summary>One walk of the heap and the reading of its pending objects. Under the lock.</summary>
    private HeapSnapshot Snap(Stopwatch watch, int gcCount)
    {
        var warnings = new List<string>();
        Refresh();
        var candidates = new List<(ulong Address, TypeInfo Info)>(1024);
        var (objects, torn) = Walk(candidates);
        var operations = new List<HeapOperation>(candidates.Count);
        foreach (var (address, info) in candidates)
        {
            try
            {
                if (ReadOperation(address, info) is { } operation)
                {
                    operations.Add(operation);
                }
            }
            catch (Exception)
            {
                // A torn object (moved or half-written while read): skipped, counted.
                torn++;
            }
        }

        if (objects == 0)
        {
            warnings.Add("the heap snapshot read no objects (process memory could not be read)");
            operations.Clear();
        }

        return new HeapSnapshot(operations, warnings, objects, torn, watch.Elapsed) { GcCount = gcCount };
    }

    /// <summary>A full GC and the finalizers it queued, serialised with snapshots (a GC mid-snapshot spoils it).</summary>
    public void CollectGarbage()
    {
        lock (_gate)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>16 MB that all threads together may allocate while a snapshot is read, without a GC moving objects.</summary>
    internal const long DefaultRegionBytes = 16L << 20;

    private static bool TryStartNoGcRegion(long bytes)
    {
        try
        {
            return GC.TryStartNoGCRegion(bytes);
        }
        catch (InvalidOperationException)
        {
            return false; // already in a no-GC region (the user's)
        }
        catch (ArgumentOutOfRangeException) when (bytes > DefaultRegionBytes)
        {
            return TryStartNoGcRegion(DefaultRegionBytes); // larger than this GC allows
        }
    }

    private void Refresh()
    {
        if (_snapshotPerCapture)
        {
            _runtime.Dispose();
            _target.Dispose();
            Attach();
        }
        else if (_inProcess)
        {
            // Another process (suspended) or a dump does not change while it is open: a flush would only make ClrMD read
            // its heap's layout and the types it has named again.
            _runtime.FlushCachedData();
        }

        _allocationContexts = _runtime.Heap.EnumerateAllocationContexts().Where(r => r.Start != 0).OrderBy(r => r.Start).ToArray();
        _completionSentinel = ReadCompletionSentinel();
    }

    /// <summary>
    /// ManualResetValueTaskSourceCoreShared.s_sentinel (.NET Core 3.0 – 11), read at each capture (objects move): the
    /// delegate a completed ManualResetValueTaskSourceCore holds as its continuation on .NET 11, which has no
    /// <c>_completed</c> field. 0 when absent: pooled boxes are then read only where <c>_completed</c> exists. Only its
    /// address is wanted, read with the safe reader: ClrMD's ReadObject would hand the word at it to the data access
    /// layer unchecked.
    /// </summary>
    private ulong ReadCompletionSentinel()
    {
        try
        {
            return typeof(object).Assembly.GetType("System.Threading.Tasks.Sources.ManualResetValueTaskSourceCoreShared") is { } shared
                && _typeMap.ClrTypeOf(_runtime, shared)?.GetStaticFieldByName("s_sentinel") is { } field
                && _runtime.AppDomains.FirstOrDefault() is { } domain
                && field.GetAddress(domain) is var address and not 0
                && _reader.Read(address, out ulong sentinel)
                ? sentinel
                : 0;
        }
        catch (Exception)
        {
            return 0;
        }
    }

    private ulong _completionSentinel;

    /// <summary>
    /// Walks every segment, split between this thread and a helper thread when the heap is large enough to be worth
    /// it (two cores read the heap in about half the time; the candidates are put back in address order).
    /// </summary>
    private (long Objects, int Torn) Walk(List<(ulong, TypeInfo)> candidates)
    {
        var segments = Limited(_runtime.Heap.Segments
            .Select(s => new MemoryRange(s.ObjectRange.Start, s.ObjectRange.End))
            .Where(r => r.End > r.Start), _walkLimit);
        var total = segments.Aggregate(0UL, (sum, r) => sum + (r.End - r.Start));
        if (Environment.ProcessorCount < 2 || total < ParallelWalkBytes || WalkHelper.For(this) is not { } helper)
        {
            return WalkRanges(segments, _buffer, candidates);
        }

        // Largest first, each to the lighter side.
        var mine = new List<MemoryRange>();
        var theirs = new List<MemoryRange>();
        ulong mineBytes = 0, theirBytes = 0;
        foreach (var range in segments.OrderByDescending(r => r.End - r.Start))
        {
            if (mineBytes <= theirBytes)
            {
                mine.Add(range);
                mineBytes += range.End - range.Start;
            }
            else
            {
                theirs.Add(range);
                theirBytes += range.End - range.Start;
            }
        }

        helper.Start(theirs);
        (long Objects, int Torn) own;
        try
        {
            own = WalkRanges(mine, _buffer, candidates);
        }
        finally
        {
            helper.Finish();
        }

        var (objects, torn) = helper.Result();
        candidates.AddRange(helper.Candidates);
        candidates.Sort(static (a, b) => a.Item1.CompareTo(b.Item1));
        return (own.Objects + objects, own.Torn + torn);
    }

    /// <summary>The first <paramref name="limit"/> bytes of <paramref name="ranges"/>, in their order.</summary>
    internal static MemoryRange[] Limited(IEnumerable<MemoryRange> ranges, ulong limit)
    {
        var limited = new List<MemoryRange>();
        foreach (var range in ranges)
        {
            if (limit == 0)
            {
                break;
            }

            var length = Math.Min(range.End - range.Start, limit);
            limited.Add(new MemoryRange(range.Start, range.Start + length));
            limit -= length;
        }

        return [.. limited];
    }

    /// <summary>Below this much heap, one thread walks it: a hand-over costs more than it saves (tests set it).</summary>
    internal static ulong ParallelWalkBytes { get; set; } = 8UL << 20;

    /// <summary>
    /// Walks the given ranges: reads 1 MB at a time and steps from object to object by the size its method table
    /// gives. Unused allocation-context space is skipped; a word that is not a known method table is stepped over a
    /// word at a time (an allocation context handed out after the refresh), up to 4 KB, then the rest of the segment
    /// is given up (counted as torn). Runs on two threads at once: only <see cref="LookupSlow"/> writes shared state.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private (long Objects, int Torn) WalkRanges(IReadOnlyList<MemoryRange> ranges, byte[] bytes, List<(ulong, TypeInfo)> candidates)
    {
        long objects = 0;
        var torn = 0;
        var stateFlags = _layout.StateFlags;
        fixed (byte* buffer = bytes)
        {
            foreach (var range in ranges)
            {
                ulong address = range.Start, end = range.End;
                ulong bufferStart = 0, bufferEnd = 0;
                var badInARow = 0;
                while (address < end)
                {
                    if (address < bufferStart || address + MinObjectSize > bufferEnd)
                    {
                        var length = (int)Math.Min((ulong)bytes.Length, end - address);
                        if (length < MinObjectSize)
                        {
                            break;
                        }

                        var got = _reader.Read(address, new Span<byte>(buffer, length));
                        if (got < MinObjectSize)
                        {
                            torn++;
                            break;
                        }

                        bufferStart = address;
                        bufferEnd = address + (ulong)got;
                    }

                    var at = buffer + (address - bufferStart);
                    var methodTable = *(ulong*)at & ~7UL;
                    if (methodTable == 0)
                    {
                        var skip = SkipAllocationContext(address);
                        address = skip != 0 ? skip : address + (ulong)PointerSize;
                        continue;
                    }

                    var info = Lookup(methodTable);
                    if (info.Kind == TypeKind.Invalid)
                    {
                        torn++;
                        if (++badInARow > 512)
                        {
                            break;
                        }

                        address += (ulong)PointerSize;
                        continue;
                    }

                    badInARow = 0;
                    ulong size = info.BaseSize;
                    if (info.ComponentSize != 0)
                    {
                        if (address + 12 > bufferEnd)
                        {
                            bufferEnd = 0; // re-read from this object
                            continue;
                        }

                        size += (ulong)*(uint*)(at + PointerSize) * info.ComponentSize;
                    }

                    size = Math.Max((size + 7) & ~7UL, MinObjectSize);
                    if (info.Kind >= TypeKind.Task
                        && !(info.Kind != TypeKind.PoolingBox && address + (ulong)stateFlags + 4 <= bufferEnd
                            && (*(int*)(at + stateFlags) & TaskStateCompletedMask) != 0))
                    {
                        // Pending (or not known to be completed): read again after the walk. A completed task is
                        // skipped here, from the bytes already read: a busy process leaves thousands of them behind.
                        candidates.Add((address, info));
                    }

                    objects++;
                    address += size;
                }
            }
        }

        return (objects, torn);
    }

    private ulong SkipAllocationContext(ulong address)
    {
        var contexts = _allocationContexts;
        int low = 0, high = contexts.Length - 1;
        while (low <= high)
        {
            var middle = (low + high) >> 1;
            if (address < contexts[middle].Start)
            {
                high = middle - 1;
            }
            else if (address >= contexts[middle].End + MinObjectSize)
            {
                low = middle + 1;
            }
            else
            {
                // The GC leaves Align(min_obj_size) after an allocation context's limit.
                return contexts[middle].End + MinObjectSize;
            }
        }

        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TypeInfo Lookup(ulong methodTable)
    {
        var slot = (int)((methodTable >> 3) & (ulong)(_recentTypes.Length - 1));
        var info = Volatile.Read(ref _recentTypes[slot]);
        return info is not null && info.MethodTable == methodTable ? info : LookupSlow(methodTable, slot);
    }

    // Under a lock of its own: the helper thread of a parallel walk looks types up too (ClrMD is not thread-safe).
    private TypeInfo LookupSlow(ulong methodTable, int slot)
    {
        lock (_types)
        {
            if (!_types.TryGetValue(methodTable, out var info))
            {
                info = Classify(methodTable);
                if (info.Kind == TypeKind.Invalid)
                {
                    return info; // garbage from a torn read: never remembered
                }

                _types[methodTable] = info;
            }

            Volatile.Write(ref _recentTypes[slot], info);
            return info;
        }
    }

    /// <summary>Classifies a method table once. It becomes a System.Type only after ClrMD has validated it.</summary>
    private TypeInfo Classify(ulong methodTable)
    {
        if ((methodTable & 7) != 0 || methodTable < 0x10000 || !LooksLikeMethodTable(methodTable))
        {
            return TypeInfo.Invalid;
        }

        ClrType? clrType;
        try
        {
            clrType = _runtime.GetTypeByMethodTable(methodTable);
        }
        catch (Exception)
        {
            clrType = null;
        }

        // MethodTable: dword flags (high bit: has a component size, low 16 bits: that size), then the base size.
        if (clrType is null || !_reader.Read(methodTable, out uint flags) || !_reader.Read(methodTable + 4, out uint baseSize)
            || baseSize < MinObjectSize - 8 || baseSize > 1u << 30)
        {
            return TypeInfo.Invalid;
        }

        var info = new TypeInfo
        {
            MethodTable = methodTable,
            BaseSize = baseSize,
            ComponentSize = (flags & 0x80000000) != 0 ? flags & 0xFFFF : 0,
            Kind = TypeKind.Other,
            ContainsPointers = clrType.ContainsPointers,
        };

        if (methodTable == _runtime.Heap.FreeType.MethodTable)
        {
            return info;
        }

        var type = TypeOfMethodTable(methodTable);
        info.Type = type;
        if (type is null)
        {
            return info;
        }

        if (typeof(Task).IsAssignableFrom(type))
        {
            var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : null;
            info.Kind = definition is not null && (definition == AsyncBoxDefinition || definition == DebugBoxDefinition)
                ? TypeKind.AsyncBox
                : TypeKind.Task;
        }
        else if (type.IsGenericType && PoolingBoxDefinition is not null && type.GetGenericTypeDefinition() == PoolingBoxDefinition)
        {
            info.Kind = TypeKind.PoolingBox;
        }

        return info;
    }

    /// <summary>The type of a method table (see <see cref="TargetTypes"/>). Only for validated method tables.</summary>
    private Type? TypeOfMethodTable(ulong methodTable) => _typeMap.TypeOf(_runtime, methodTable);

    /// <summary>
    /// False when an object whose first word (its method table) is <paramref name="methodTableWord"/> holds no references
    /// (a string, an array of numbers): nothing can be reached through it. True when it may; null when the word is not
    /// a method table.
    /// </summary>
    internal bool? HoldsReferencesOfType(ulong methodTableWord) =>
        Lookup(methodTableWord & ~7UL) is { Kind: not TypeKind.Invalid } info ? info.ContainsPointers : null;

    /// <summary>The live type of the object at an address, or null when it is not a valid object.</summary>
    public Type? TypeAt(ulong address)
    {
        if (address == 0 || !_reader.Read(address, out ulong methodTable))
        {
            return null;
        }

        var info = Lookup(methodTable & ~7UL);
        return info.Kind == TypeKind.Invalid ? null : info.Type;
    }

    private HeapOperation? ReadOperation(ulong address, TypeInfo info)
    {
        var length = (int)Math.Min(info.BaseSize, MaxObjectRead);
        Span<byte> data = stackalloc byte[length];
        if (_reader.Read(address, data) != length || (MemoryMarshal.Read<ulong>(data) & ~7UL) != info.MethodTable)
        {
            return null;
        }

        if (info.Kind == TypeKind.PoolingBox)
        {
            return ReadPoolingBox(address, info, data);
        }

        var layout = _layout;
        var flags = MemoryMarshal.Read<int>(data[layout.StateFlags..]);
        if ((flags & TaskStateCompletedMask) != 0)
        {
            return null;
        }

        var action = MemoryMarshal.Read<ulong>(data[layout.Action..]);
        var contingent = MemoryMarshal.Read<ulong>(data[layout.ContingentProperties..]);
        var continuation = MemoryMarshal.Read<ulong>(data[layout.ContinuationObject..]);
        var isContinuation = action != 0 && info.Type?.Name.StartsWith("Continuation", StringComparison.Ordinal) == true;
        var kind = info.Kind == TypeKind.AsyncBox ? HeapObjectKind.AsyncBox
            : isContinuation ? HeapObjectKind.Continuation
            : info.Type is { } taskType && RuntimeAsyncTasks.Is(taskType) ? HeapObjectKind.RuntimeAsyncTask
            : action != 0 ? HeapObjectKind.DelegateTask
            : HeapObjectKind.Promise;
        var context = kind == HeapObjectKind.AsyncBox
            ? MemoryMarshal.Read<ulong>(data[layout.StateObject..])
            : contingent != 0 && layout.CapturedContext >= 0 ? _reader.ReadPointer(contingent + (ulong)layout.CapturedContext) : 0;
        if (context != 0 && TypeAt(context) != typeof(ExecutionContext))
        {
            context = 0;
        }

        var machine = kind == HeapObjectKind.AsyncBox ? ReadStateMachine(data, BoxLayoutOf(info)) : default;
        return new HeapOperation
        {
            Address = address,
            Kind = kind,
            Type = info.Type,
            TaskId = MemoryMarshal.Read<int>(data[layout.TaskId..]),
            StateFlags = flags,
            StateMachineType = machine.Type,
            StateMachineObject = machine.Object,
            State = machine.State,
            Awaited = machine.Awaited,
            AwaitsYield = machine.AwaitsYield,
            ContinuationObject = continuation,
            ReadContinuations = _readContinuations,
            Context = context,
            Delegate = action,
            Antecedent = isContinuation && layout.Antecedent(info) is int offset && offset + 8 <= data.Length
                ? MemoryMarshal.Read<ulong>(data[offset..])
                : 0,
        };
    }

    private HeapOperation? ReadPoolingBox(ulong address, TypeInfo info, ReadOnlySpan<byte> data)
    {
        var box = BoxLayoutOf(info);
        if (box is null)
        {
            return null;
        }

        var completed = box switch
        {
            { Completed: >= 0 } => data[box.Completed] != 0,
            { Continuation: >= 0 } when _completionSentinel != 0 => MemoryMarshal.Read<ulong>(data[box.Continuation..]) == _completionSentinel,
            _ => true,
        };
        if (completed)
        {
            return null; // completed (result not yet consumed), or a layout we do not know
        }

        // A box resting in the pool holds a cleared state machine; an active one's builder points back at the box.
        if (box.BuilderTask >= 0)
        {
            var builderTask = box.StateMachineIsClass
                ? _reader.ReadPointer(MemoryMarshal.Read<ulong>(data[box.StateMachine..]) + (ulong)PointerSize + (ulong)box.BuilderTask)
                : MemoryMarshal.Read<ulong>(data[(box.StateMachine + box.BuilderTask)..]);
            if (builderTask != address)
            {
                return null;
            }
        }

        var continuationState = box.ContinuationState >= 0 ? MemoryMarshal.Read<ulong>(data[box.ContinuationState..]) : 0;
        var machine = ReadStateMachine(data, box);
        var context = box.Context >= 0 ? MemoryMarshal.Read<ulong>(data[box.Context..]) : 0;
        return new HeapOperation
        {
            Address = address,
            Kind = HeapObjectKind.PoolingBox,
            Type = info.Type,
            StateMachineType = machine.Type,
            StateMachineObject = machine.Object,
            State = machine.State,
            Awaited = machine.Awaited,
            AwaitsYield = machine.AwaitsYield,
            ContinuationObject = continuationState,
            ReadContinuations = _readContinuations,
            Context = context != 0 && TypeAt(context) == typeof(ExecutionContext) ? context : 0,
        };
    }

    private (Type? Type, ulong Object, int State, ulong Awaited, bool AwaitsYield) ReadStateMachine(ReadOnlySpan<byte> box, BoxLayout? layout)
    {
        if (layout is null)
        {
            return default;
        }

        ReadOnlySpan<byte> machine;
        ulong machineObject = 0;
        if (layout.StateMachineIsClass)
        {
            // Debug builds and async iterators: the state machine is an object of its own.
            machineObject = MemoryMarshal.Read<ulong>(box[layout.StateMachine..]);
            var info = machineObject == 0 ? null : InfoAt(machineObject);
            if (info is null)
            {
                return (layout.StateMachineType, 0, -1, 0, false);
            }

            var bytes = new byte[Math.Min(info.BaseSize, MaxObjectRead)];
            if (_reader.Read(machineObject, bytes) != bytes.Length)
            {
                return (layout.StateMachineType, machineObject, -1, 0, false);
            }

            machine = bytes.AsSpan(PointerSize);
        }
        else
        {
            machine = box[Math.Min(layout.StateMachine, box.Length)..];
        }

        var state = layout.State >= 0 && layout.State + 4 <= machine.Length ? MemoryMarshal.Read<int>(machine[layout.State..]) : -1;
        var yields = false;
        foreach (var awaiter in layout.Awaiters)
        {
            if (awaiter.IsYield)
            {
                // YieldAwaiter has no fields: it is in use exactly when the state names it, which we cannot tell
                // here; the analysis names it only when no other awaiter is set.
                yields = true;
                continue;
            }

            foreach (var offset in awaiter.References)
            {
                if (offset + 8 <= machine.Length && MemoryMarshal.Read<ulong>(machine[offset..]) is var target and not 0)
                {
                    // Awaiters not in use are reset to default by the compiler: the one set is the current one.
                    return (layout.StateMachineType, machineObject, state, target, false);
                }
            }
        }

        return (layout.StateMachineType, machineObject, state, 0, yields && state >= 0);
    }

    private TypeInfo? InfoAt(ulong address)
    {
        if (address == 0 || !_reader.Read(address, out ulong methodTable))
        {
            return null;
        }

        var info = Lookup(methodTable & ~7UL);
        return info.Kind == TypeKind.Invalid ? null : info;
    }

    /// <summary>The operations a continuation object stands for: a box, a task, or the boxes inside wrappers and lists.</summary>
    private ulong[] ContinuationsOf(ulong continuation)
    {
        if (continuation == 0)
        {
            return [];
        }

        var found = new List<ulong>(1);
        try
        {
            AddContinuation(continuation, found, depth: 0);
        }
        catch (Exception)
        {
            // A wrapper that changed while read: the links found so far are kept; the rest of the chain is lost.
        }

        return [.. found];
    }

    private void AddContinuation(ulong address, List<ulong> found, int depth)
    {
        var info = InfoAt(address);
        if (info is null)
        {
            return;
        }

        if (info.Kind >= TypeKind.Task)
        {
            found.Add(address);
            return;
        }

        if (depth >= 3 || info.Type is not { } type)
        {
            return;
        }

        var value = ObjectAt(address);
        if (!value.IsValid)
        {
            return;
        }

        if (typeof(Delegate).IsAssignableFrom(type))
        {
            // A box's MoveNextAction: Delegate._target is the box.
            AddContinuation(ObjectField(value, "_target").Address, found, depth + 1);
        }
        else if (type == typeof(List<object?>))
        {
            // Several continuations: List<object>._items / _size.
            var items = ObjectField(value, "_items");
            var size = value.ReadField<int>("_size");
            if (items.IsValid && items.IsArray && items.Type is { } arrayType)
            {
                // Elements read as addresses (each is checked by AddContinuation), not as ClrMD objects.
                for (var i = 0; i < Math.Min(Math.Min(size, items.AsArray().Length), 256); i++)
                {
                    if (_reader.Read(arrayType.GetArrayElementAddress(items.Address, i), out ulong element))
                    {
                        AddContinuation(element, found, depth + 1);
                    }
                }
            }
        }
        else if (type.Namespace is "System.Threading.Tasks" or "System.Threading")
        {
            // The runtime's wrappers (AwaitTaskContinuation.m_action, ContinueWithTaskContinuation.m_task …).
            foreach (var reference in value.EnumerateReferenceAddresses(carefully: true, considerDependantHandles: false))
            {
                var inner = InfoAt(reference);
                if (inner is not null && (inner.Kind >= TypeKind.Task || (inner.Type is { } t && typeof(Delegate).IsAssignableFrom(t))))
                {
                    AddContinuation(reference, found, depth + 1);
                }
            }
        }
    }

    private BoxLayout? BoxLayoutOf(TypeInfo info)
    {
        // A read of the runtime's type data can fail while other threads load types: tried again at once, and on later
        // snapshots, before this box type is read without its state machine for the rest of the process.
        for (var attempt = 0; !info.BoxLayoutRead && attempt < 3; attempt++)
        {
            try
            {
                info.Box = BoxLayout.Read(_runtime, info, _typeMap);
                info.BoxLayoutRead = true;
            }
            catch (Exception)
            {
                info.Box = null;
                info.BoxLayoutRead = ++info.BoxLayoutFailures >= MaxBoxLayoutFailures;
            }
        }

        return info.Box;
    }

    private const int MaxBoxLayoutFailures = 9;

    public void Dispose()
    {
        lock (_gate)
        {
            ReleaseTarget();
            (_typeMap as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Lets go of the process or dump (a live process runs again) while keeping the types read from it: its methods can
    /// still be named and their lines read from its files. Nothing of the target can be read afterwards.
    /// </summary>
    public void ReleaseTarget()
    {
        lock (_gate)
        {
            if (_released)
            {
                return;
            }

            _released = true;
            _runtime?.Dispose();
            _target?.Dispose();
        }
    }

    private bool _released;

    internal enum TypeKind : byte
    {
        Invalid,
        Other,
        Task,
        AsyncBox,
        PoolingBox,
    }

    /// <summary>What the walk needs to know about one method table, found once.</summary>
    internal sealed class TypeInfo
    {
        public static readonly TypeInfo Invalid = new() { Kind = TypeKind.Invalid };

        public ulong MethodTable { get; init; }

        public TypeKind Kind { get; set; }

        public uint BaseSize { get; init; }

        public uint ComponentSize { get; init; }

        /// <summary>True when objects of this type hold references (a string or an array of numbers holds none).</summary>
        public bool ContainsPointers { get; init; } = true;

        public Type? Type { get; set; }

        public BoxLayout? Box { get; set; }

        public bool BoxLayoutRead { get; set; }

        public int BoxLayoutFailures { get; set; }

        public int AntecedentOffset { get; set; } = -2;
    }
}
