using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.Diagnostics.Runtime;
using NoLeaks.Heap;

namespace NoLeaks.Benchmarks;

/// <summary>
/// One heap snapshot of a process holding 1,000,000 live objects (and 1,000 pending async methods to find), three
/// ways: the heap source's in-process snapshot as a scope takes it (<c>Capture()</c>: a forced full GC, then the walk
/// inside a no-GC region), the same without the forced GC (<c>Capture(forceGc: false)</c>; starting the no-GC region
/// still runs one full blocking GC of its own: the Gen2 column shows 1 per snapshot against 2), and ClrMD's own route for reading one's own process, <c>DataTarget.CreateSnapshotAndAttach</c>
/// (Linux: the runtime writes a core dump to the temp folder, ClrMD reads it and deletes it on Dispose) followed by the
/// equivalent enumeration: every object, its type checked by method table, the state flags of every task read. That
/// enumeration does less than the in-process one (no state machines, contexts or continuations), so the comparison
/// favours ClrMD's route. The in-process heap is opened once in GlobalSetup (warm); the dump route attaches per snapshot,
/// as it must. Each iteration is one snapshot (Monitoring); GlobalSetup checks that every route finds the objects and
/// the pending methods, so no route is timed doing something else.
/// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --filter '*HeapSnapshot*'
/// Extra memory and files of one snapshot (not something BenchmarkDotNet measures):
/// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --heap-snapshot-memory
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class HeapSnapshotBenchmarks
{
    public const int LiveObjects = 1_000_000;
    private const int PendingMethods = 1_000;

    private readonly TaskCompletionSource _never = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private object[] _live = [];
    private Task[] _pending = [];
    private ProcessHeap? _heap;

    [GlobalSetup]
    public void Setup()
    {
        (_live, _pending) = Populate(_never.Task);
        _heap = ProcessHeap.Open();
        Check("in-process snapshot", InProcess(_heap, forceGc: true));
        Check("in-process snapshot without the forced GC", InProcess(_heap, forceGc: false));
        Check("CreateSnapshotAndAttach", ClrMdSnapshot(null));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _never.TrySetResult();
        _heap?.Dispose();
        GC.KeepAlive(_live);
        GC.KeepAlive(_pending);
    }

    /// <summary>What a heap-mode scope does per check: a forced full blocking GC, then the walk.</summary>
    [Benchmark(Baseline = true)]
    public long InProcessSnapshot() => InProcess(_heap!, forceGc: true).Pending;

    /// <summary>Capture(forceGc: false): no GC.Collect, but the no-GC region's own full GC (the heap source always forces one).</summary>
    [Benchmark]
    public long InProcessSnapshotWithoutForcedGc() => InProcess(_heap!, forceGc: false).Pending;

    /// <summary>ClrMD's supported way to read one's own process, and the equivalent enumeration.</summary>
    [Benchmark]
    public long CreateSnapshotAndAttach() => ClrMdSnapshot(null).Pending;

    /// <summary>1,000,000 small objects of four kinds, rooted by one array, and pending async methods.</summary>
    internal static (object[] Live, Task[] Pending) Populate(Task never)
    {
        var live = new object[LiveObjects];
        for (var i = 0; i < live.Length; i++)
        {
            live[i] = (i % 4) switch
            {
                0 => new Node(i, null),
                1 => i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                2 => new int[2],
                _ => new Node(i, live[i - 1]),
            };
        }

        var pending = new Task[PendingMethods];
        for (var i = 0; i < pending.Length; i++)
        {
            pending[i] = AwaitAsync(never);
        }

        return (live, pending);
    }

    internal static (long Objects, long Pending) InProcess(ProcessHeap heap, bool forceGc)
    {
        var snapshot = heap.Capture(forceGc);
        return snapshot.Warnings.Count == 0
            ? (snapshot.ObjectCount, snapshot.Operations.Count)
            : throw new InvalidOperationException("in-process snapshot failed: " + snapshot.Warnings[0]);
    }

    /// <summary><paramref name="onAttached"/> runs while the snapshot exists (the memory measurement looks at its file).</summary>
    internal static (long Objects, long Pending) ClrMdSnapshot(Action? onAttached)
    {
        using var target = DataTarget.CreateSnapshotAndAttach(Environment.ProcessId);
        onAttached?.Invoke();
        // Without a path ClrMD finds no matching DAC here ("Could not find matching DAC for this runtime", module versions
        // read from the dump do not match): the DAC beside the running runtime, as the in-process heap uses it.
        using var runtime = target.ClrVersions[0].CreateRuntime(DacPath, ignoreMismatch: true);
        var isTask = new Dictionary<ulong, ClrInstanceField?>();
        long objects = 0, pending = 0;
        foreach (var value in runtime.Heap.EnumerateObjects())
        {
            objects++;
            if (value.Type is not { } type)
            {
                continue;
            }

            if (!isTask.TryGetValue(type.MethodTable, out var stateFlags))
            {
                isTask[type.MethodTable] = stateFlags = IsTask(type) ? type.GetFieldByName("m_stateFlags") : null;
            }

            if (stateFlags is not null && (stateFlags.Read<int>(value.Address, interior: false) & ProcessHeap.TaskStateCompletedMask) == 0)
            {
                pending++;
            }
        }

        return (objects, pending);
    }

    private static string DacPath => Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "libmscordaccore.so");

    private static bool IsTask(ClrType type)
    {
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (t.Name == "System.Threading.Tasks.Task")
            {
                return true;
            }
        }

        return false;
    }

    private static void Check(string route, (long Objects, long Pending) found)
    {
        if (found.Objects < LiveObjects || found.Pending < PendingMethods)
        {
            throw new InvalidOperationException($"{route} saw {found.Objects:N0} objects and {found.Pending:N0} pending tasks; expected at least {LiveObjects:N0} and {PendingMethods:N0}");
        }

        Console.WriteLine($"// {route}: {found.Objects:N0} objects, {found.Pending:N0} pending");
    }

    private static async Task AwaitAsync(Task never) => await never;

    private sealed record Node(int Value, object? Next);

    // One snapshot per iteration: the dump route takes seconds, and a snapshot is not a nanosecond operation.
    private sealed class Config() : MonitoringConfig(iterations: 31, inProcess: false);
}
