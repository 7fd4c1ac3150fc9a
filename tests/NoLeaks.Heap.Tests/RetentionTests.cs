using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// Every reported leak says what keeps it alive and whether it can ever resume. Alone in its collection: the search
/// reads type metadata through the runtime's data access layer, which can loop while other tests load types (see
/// docs/heap.md, known limits); a search cut short by its watchdog would fail these tests for a reason not theirs.
/// </summary>
[Collection(nameof(RetentionTests))]
[CollectionDefinition(nameof(RetentionTests), DisableParallelization = true)]
public class RetentionTests
{
    private const int TestTimeout = 30_000;

    // The machine is shared and the search walks the whole test process: a budget that load cannot exhaust.
    private static NoLeaksOptions Generous()
    {
        var options = Scopes.Options();
        options.RetentionBudget = TimeSpan.FromSeconds(20);
        return options;
    }

    private static class Registry
    {
        public static TaskCompletionSource<int>? Pending;

        public static TaskCompletionSource? Gate;

        public static byte[][]? Ballast;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Leak_awaiting_a_completion_source_held_by_a_static_shows_the_static_in_its_path()
    {
        Registry.Pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("static tcs", async () => { _ = WaitForRegistryAsync(); }, Generous());

        Registry.Pending.SetResult(1);
        var leak = Scopes.Single(report);
        Assert.NotNull(leak.RetentionPath);
        if (StaticsAreUnnamed)
        {
            // The statics are still searched, through the handle the runtime roots them in (see docs/heap.md).
            Assert.StartsWith("a strong GC handle → TaskCompletionSource<int>", leak.RetentionPath);
            Assert.StartsWith("still reachable from a strong GC handle", leak.Verdict);
            return;
        }

        Assert.StartsWith("static RetentionTests.Registry.Pending", leak.RetentionPath);
        Assert.StartsWith("still reachable from static RetentionTests.Registry.Pending", leak.Verdict);
        Assert.Contains("held by     static RetentionTests.Registry.Pending", report.ToString());
    }

    /// <summary>
    /// NoLeaks' net8.0 build reads the heap with ClrMD 3.1, which does not find the static fields of .NET 9 and later
    /// (their storage moved in .NET 9): paths there begin at the GC handle that roots the type's statics.
    /// </summary>
    private static bool StaticsAreUnnamed =>
#if NET10_0_OR_GREATER
        false;
#else
        Environment.Version.Major >= 9;
#endif

    private static async Task<int> WaitForRegistryAsync() => await Registry.Pending!.Task;

    [Fact(Timeout = TestTimeout)]
    public async Task Probe_a_static_s_object_is_reachable_from_a_strong_handle_so_a_verdict_needs_no_static_labels()
    {
        // Statics are labelled from what a child process reads within a bound, or not at all where it cannot run; what
        // is not labelled must still be found, from the runtime's handles (.NET 8 – 10 root static storage in them).
        // Fails when a runtime roots statics some other way: the search would then judge work held by an unlabelled
        // static unable to resume.
        NoLeaks.Heap.RetentionSearch.ReadStaticLabels = false;
        try
        {
            Registry.Pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var report = await Scopes.CheckAsync("static tcs, no labels", async () => { _ = WaitForRegistryAsync(); }, Generous());
            Registry.Pending.SetResult(1);

            var leak = Scopes.Single(report);
            Assert.StartsWith("a strong GC handle → TaskCompletionSource<int>", leak.RetentionPath);
            Assert.StartsWith("still reachable from a strong GC handle", leak.Verdict);
        }
        finally
        {
            NoLeaks.Heap.RetentionSearch.ReadStaticLabels = true;
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Method_awaiting_a_completion_source_that_only_its_chain_references_has_nothing_on_the_heap_to_resume_it()
    {
        // Held by a static, not by this method: the search cannot see stacks, and this method's own box is reachable
        // only through whatever happens to hold it while the scope ends (in tracking mode, once in a CI run, nothing
        // it could see, so the outer method was judged unable to resume too).
        Registry.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("orphan tcs", async () => { _ = OuterAsync(Registry.Gate.Task); }, Generous());

        Registry.Gate.SetResult();
        Registry.Gate = null;
        // Two stacks: the orphan, and the outer method still waiting on the gate a static holds.
        var leak = report.Leaks.Single(l => l.Method == "RetentionTests.WaitOnOrphanAsync");
        Assert.True(leak.Verdict?.StartsWith("nothing on the heap outside its own chain can complete what it awaits", StringComparison.Ordinal) == true, report.ToString());
        Assert.StartsWith("still reachable from", report.Leaks.Single(l => l.Method == "RetentionTests.OuterAsync").Verdict);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Completion_source_held_only_by_a_blocked_thread_s_local_is_never_judged_unable_to_resume()
    {
        // The verdict once said "can never resume" here, and the program then resumed the method: the search does not
        // see what a thread's stack holds, so it must not claim more than the heap shows.
        using var holder = new ThreadLocalHolder();
        Task? waiter = null;
        var report = await Scopes.CheckAsync("thread-held tcs", async () => waiter = WaitOnOrphanAsync(holder.TakeTask()), Generous());
        holder.Dispose();
        await waiter!.WaitAsync(TestContext.Current.CancellationToken);

        var leak = report.Leaks.Single(l => l.Method == "RetentionTests.WaitOnOrphanAsync");
        Assert.DoesNotContain("can never resume", leak.Verdict ?? "", StringComparison.Ordinal);
        Assert.Contains("threads' stacks are not read", leak.Verdict ?? "", StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_search_through_a_large_old_generation_answers_in_its_first_reading_of_the_heap()
    {
        // 160 MB of objects without references, in the oldest generation: the search reads each one's first word
        // (through pages of memory) to learn that it leads nowhere. What it allocates for that must stay far below its
        // no-GC region (128 MB at first): a region that ends spoils the reading, which is then redone.
        Registry.Ballast = new byte[40_000][];
        for (var i = 0; i < Registry.Ballast.Length; i++)
        {
            Registry.Ballast[i] = new byte[4_000];
        }

        GC.Collect();
        GC.Collect();

        // What the leak awaits is held by a thread's local only, which the search cannot see: it walks everything.
        using var holder = new ThreadLocalHolder();
        try
        {
            Task? waiter = null;
            var report = await Scopes.CheckAsync("thread-held tcs beside ballast", async () => waiter = WaitOnOrphanAsync(holder.TakeTask()), Generous());
            holder.Dispose();
            await waiter!.WaitAsync(TestContext.Current.CancellationToken);

            var leak = Scopes.Single(report);
            Assert.True(leak.Verdict?.StartsWith("nothing on the heap outside its own chain", StringComparison.Ordinal) == true, report.ToString());
            Assert.Equal(1, NoLeaks.Heap.RetentionSearch.LastAttempts);
        }
        finally
        {
            Registry.Ballast = null;
        }
    }

    /// <summary>A thread whose local alone holds a pending completion source, completed when disposed.</summary>
    private sealed class ThreadLocalHolder : IDisposable
    {
        private readonly ManualResetEventSlim _release = new();
        private readonly Thread _thread;
        private Task? _task;

        public ThreadLocalHolder()
        {
            using var started = new ManualResetEventSlim();
            _thread = new Thread(() =>
            {
                var local = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _task = local.Task;
                started.Set();
                _release.Wait();
                local.SetResult();
            });
            _thread.Start();
            started.Wait(TestContext.Current.CancellationToken);
        }

        /// <summary>The completion source's task, once: from then on only the thread's local holds it.</summary>
        public Task TakeTask()
        {
            var task = _task!;
            _task = null;
            return task;
        }

        public void Dispose()
        {
            _release.Set();
            _thread.Join();
        }
    }

    // The outer method is what keeps the inner one alive on the heap: it waits on a gate a static holds.
    private static async Task OuterAsync(Task gate)
    {
        var inner = StartOrphan();
        await gate;
        await inner;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Task StartOrphan() => WaitOnOrphanAsync(new TaskCompletionSource().Task);

    private static async Task WaitOnOrphanAsync(Task orphan) => await orphan;
}
