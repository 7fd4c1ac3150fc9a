using System.Diagnostics;
using System.Globalization;
using Microsoft.Diagnostics.Runtime;
using NoLeaks.Heap;

namespace NoLeaks.Benchmarks;

/// <summary>
/// What one snapshot costs besides time, in the process of <see cref="HeapSnapshotBenchmarks"/> (1,000,000 live
/// objects, 1,000 pending methods), measured around single snapshots after a warm one, Linux only:
/// managed bytes allocated (GC.GetTotalAllocatedBytes(precise: true)), the peak resident set above the resident set
/// before the snapshot (VmHWM after resetting it through /proc/self/clear_refs, minus VmRSS before), the resident set
/// left after it, the bytes this process and the children it reaped wrote (/proc/self/io wchar: the runtime's createdump is such a child) and the files that appeared in the temp folder
/// (with their size, looked at before ClrMD deletes its dump).
/// dotnet run -c Release --project tests/NoLeaks.Benchmarks -- --heap-snapshot-memory
/// </summary>
internal static class HeapSnapshotMemory
{
    private const int Runs = 5;

    public static void Run()
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.WriteLine("The memory measurement reads /proc/self: Linux only.");
            return;
        }

        var never = new TaskCompletionSource();
        var (live, pending) = HeapSnapshotBenchmarks.Populate(never.Task);
        GC.Collect();
        var rssBeforeOpen = Kilobytes("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5");
        using var heap = ProcessHeap.Open();
        HeapSnapshotBenchmarks.InProcess(heap, forceGc: true);
        Console.WriteLine($"process: {HeapSnapshotBenchmarks.LiveObjects:N0} live objects, resident {rssBeforeOpen / 1024.0:0} MB before the heap is opened; " +
            $"opening it and the first snapshot (ClrMD, the DAC, caches; once per process): resident +{(Kilobytes("VmRSS") - rssBeforeOpen) / 1024.0:0.0} MB, " +
            $"peak +{(Kilobytes("VmHWM") - rssBeforeOpen) / 1024.0:0.0} MB");
        Console.WriteLine("route                           | allocated MB | peak RSS above before MB | RSS after - before MB | bytes written (wchar) | new temp files");
        for (var i = 0; i < Runs; i++)
        {
            Measure("in-process snapshot (forced GC)", () => HeapSnapshotBenchmarks.InProcess(heap, forceGc: true));
        }

        for (var i = 0; i < Runs; i++)
        {
            Measure("in-process, no forced GC", () => HeapSnapshotBenchmarks.InProcess(heap, forceGc: false));
        }

        try
        {
            HeapSnapshotBenchmarks.ClrMdSnapshot(null);
            for (var i = 0; i < Runs; i++)
            {
                Measure("CreateSnapshotAndAttach", onAttached => HeapSnapshotBenchmarks.ClrMdSnapshot(onAttached));
            }
        }
        catch (Exception e)
        {
            Console.WriteLine($"CreateSnapshotAndAttach does not work here: {e.GetType().Name}: {e.Message}");
        }

        never.SetResult();
        GC.KeepAlive(live);
        GC.KeepAlive(pending);
    }

    private static void Measure(string route, Func<(long, long)> snapshot) => Measure(route, _ => snapshot());

    private static void Measure(string route, Func<Action, (long, long)> snapshot)
    {
        var temp = Path.GetTempPath();
        var filesBefore = Directory.GetFiles(temp).ToHashSet();
        var newFiles = new List<string>();
        void LookAtTemp() => newFiles.AddRange(Directory.GetFiles(temp).Where(f => !filesBefore.Contains(f) && !OtherProcessEndpoint(f))
            .Select(f => $"{Path.GetFileName(f)} ({new FileInfo(f).Length / 1048576.0:0} MB)"));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var rssBefore = Kilobytes("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM to the current resident set
        var written = Written();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);

        snapshot(LookAtTemp);

        var allocatedMb = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1048576.0;
        var writtenBytes = Written() - written;
        var peak = Kilobytes("VmHWM");
        var rssAfter = Kilobytes("VmRSS");
        LookAtTemp();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{route,-31} | {allocatedMb,12:0.00} | {(peak - rssBefore) / 1024.0,24:0.0} | {(rssAfter - rssBefore) / 1024.0,21:0.0} | {writtenBytes,21:N0} | {(newFiles.Count == 0 ? "none" : string.Join(", ", newFiles.Distinct()))}"));
    }

    // Other processes on the machine come and go with their diagnostic endpoints in the same temp folder.
    private static bool OtherProcessEndpoint(string file) =>
        Path.GetFileName(file) is var name && (name.StartsWith("clr-debug-pipe-", StringComparison.Ordinal) || name.StartsWith("dotnet-diagnostic-", StringComparison.Ordinal))
        && !name.Contains($"-{Environment.ProcessId}-", StringComparison.Ordinal);

    private static long Kilobytes(string field) =>
        long.Parse(File.ReadLines("/proc/self/status").Single(l => l.StartsWith(field + ":", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private static long Written() =>
        long.Parse(File.ReadLines("/proc/self/io").Single(l => l.StartsWith("wchar:", StringComparison.Ordinal))[6..].Trim(), CultureInfo.InvariantCulture);
}
