using NoLeaks.Analysis;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Analysis;

/// <summary>
/// Alone: a read stops each thread of this process for a moment, and one of these tests measures how long a thread
/// stands still while the stacks are read.
/// </summary>
[CollectionDefinition(nameof(ThreadStacksRun), DisableParallelization = true)]
public sealed class ThreadStacksRun;

/// <summary>
/// A delegate task still running when its test ends is reported with what its thread is doing: the blocking call its
/// code made and that call's line, or the line it is busy at. Read from the thread's stack by the NoLeaks.Stacks child.
/// </summary>
[Collection(nameof(ThreadStacksRun))]
public class RunningWorkTests
{
    private const int TestTimeout = 60_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    // Asked once: whether this machine lets a process trace its parent at all (a container without ptrace refuses).
    private static readonly Lazy<string?> TracingRefused = new(() =>
    {
        _ = ThreadStacks.Read(null, out var failure);
        return failure?.Contains("attaching to the test process was refused", StringComparison.Ordinal) == true ? failure : null;
    });

    /// <summary>Skips (visibly, with the machine's reason) where the kernel refuses the stack reader's attach.</summary>
    private static void SkipWhereTracingIsRefused()
    {
        if (TracingRefused.Value is { } refused)
        {
            Assert.Skip($"this machine refuses to let a process trace its parent, so no thread stack can be read: {refused}");
        }
    }

    private static NoLeaksOptions Options => new() { GracePeriod = Scopes.ShortGrace, Source = Scopes.Source, ReadThreadStacks = true };

    [Fact(Timeout = TestTimeout)]
    public async Task Delegate_blocked_in_ManualResetEventSlim_Wait_names_that_call_and_its_line()
    {
        SkipWhereTracingIsRefused();
        using var gate = new ManualResetEventSlim();
        var leak = await BlockedLeakAsync(() => gate.Wait(), () => gate.Set()); // @mres
        Assert.Equal($"ManualResetEventSlim.Wait() at RunningWorkTests.cs:{SourceLine.Of("mres")} (its thread is blocked)", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Delegate_blocked_in_Monitor_Wait_names_that_call_and_its_line()
    {
        SkipWhereTracingIsRefused();
        var monitor = new object();
        var leak = await BlockedLeakAsync(
            () =>
            {
                lock (monitor)
                {
                    Monitor.Wait(monitor); // @monitor
                }
            },
            () =>
            {
                lock (monitor)
                {
                    Monitor.PulseAll(monitor);
                }
            });
        Assert.Equal($"Monitor.Wait(object) at RunningWorkTests.cs:{SourceLine.Of("monitor")} (its thread is blocked)", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Delegate_blocked_in_Thread_Sleep_names_that_call_and_its_line()
    {
        SkipWhereTracingIsRefused();
        Thread? sleeper = null;
        var leak = await BlockedLeakAsync(
            () =>
            {
                sleeper = Thread.CurrentThread;
                try
                {
                    Thread.Sleep(Timeout.Infinite); // @sleep
                }
                catch (ThreadInterruptedException)
                {
                    // How the test ends it.
                }
            },
            () => sleeper!.Interrupt());
        Assert.Equal($"Thread.Sleep(int) at RunningWorkTests.cs:{SourceLine.Of("sleep")} (its thread is blocked)", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Delegate_blocked_in_Task_Wait_names_that_call_and_its_line()
    {
        SkipWhereTracingIsRefused();
        var never = new TaskCompletionSource();
        var leak = await BlockedLeakAsync(() => never.Task.Wait(), () => never.SetResult()); // @taskwait
        Assert.Equal($"Task.Wait() at RunningWorkTests.cs:{SourceLine.Of("taskwait")} (its thread is blocked)", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Async_method_blocked_after_an_await_names_the_blocking_call_and_its_line()
    {
        SkipWhereTracingIsRefused();
        using var gate = new ManualResetEventSlim();
        Thread? worker = null;
        Task? work = null;
        var report = await Scopes.CheckAsync(nameof(Async_method_blocked_after_an_await_names_the_blocking_call_and_its_line), () =>
        {
            work = BlockAfterYieldAsync();
            WaitUntilBlocked(() => Volatile.Read(ref worker));
            return Task.CompletedTask;
        }, Options);

        gate.Set();
        await work!.WaitAsync(Cancel);
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.AsyncMethod, leak.Kind);
        Assert.True(leak.IsRunning);
        Assert.Equal($"ManualResetEventSlim.Wait() at RunningWorkTests.cs:{SourceLine.Of("async-wait")} (its thread is blocked)", leak.WaitingOn);

        async Task BlockAfterYieldAsync()
        {
            await Task.Yield();
            Volatile.Write(ref worker, Thread.CurrentThread);
            gate.Wait(); // @async-wait
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Busy_delegate_is_reported_running_at_its_line()
    {
        SkipWhereTracingIsRefused();
        // The whole body on one line, without calls: optimized code maps a loop's instructions to the last statement
        // the JIT recorded, which may be the statement before the loop.
        var running = false;
        var stop = false;
        Task? work = null;
        var report = await Scopes.CheckAsync(nameof(Busy_delegate_is_reported_running_at_its_line), () =>
        {
            work = Task.Run(() => { Volatile.Write(ref running, true); while (!Volatile.Read(ref stop)) { } }); // @busy
            while (!Volatile.Read(ref running))
            {
                Cancel.ThrowIfCancellationRequested();
                Thread.Yield();
            }

            return Task.CompletedTask;
        }, Options);

        Volatile.Write(ref stop, true);
        await work!.WaitAsync(Cancel);
        var leak = Scopes.Single(report);
        Assert.Equal(
            $"nothing: it is running RunningWorkTests.Busy_delegate_is_reported_running_at_its_line (lambda) at RunningWorkTests.cs:{SourceLine.Of("busy")}",
            leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_stack_reader_that_cannot_run_leaves_the_old_text_and_one_warning()
    {
        using var gate = new ManualResetEventSlim();
        var options = new NoLeaksOptions
        {
            GracePeriod = Scopes.ShortGrace,
            Source = Scopes.Source,
            ReadThreadStacks = true,
            StackReaderPath = Path.Combine(AppContext.BaseDirectory, "missing", ThreadStacks.ChildFileName),
        };
        var leak = await BlockedLeakAsync(() => gate.Wait(), () => gate.Set(), options, check: report =>
        {
            var warning = Assert.Single(report.Warnings);
            Assert.Contains("could not be read", warning, StringComparison.Ordinal);
            Assert.Contains("was not found", warning, StringComparison.Ordinal);
        });
        Assert.Equal("nothing: its delegate is still running", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Tasks_counted_together_that_do_different_things_become_one_entry_each()
    {
        SkipWhereTracingIsRefused();
        using var gate = new ManualResetEventSlim();
        Thread? waiter = null;
        var running = 0;
        var stop = false;
        var work = new Task[2];
        var report = await Scopes.CheckAsync(nameof(Tasks_counted_together_that_do_different_things_become_one_entry_each), () =>
        {
            for (var i = 0; i < 2; i++)
            {
                var index = i;
                work[i] = Task.Run(() => Body(index));
            }

            while (Volatile.Read(ref running) < 2)
            {
                Cancel.ThrowIfCancellationRequested();
                Thread.Yield();
            }

            WaitUntilBlocked(() => Volatile.Read(ref waiter));
            return Task.CompletedTask;
        }, Options);

        Volatile.Write(ref stop, true);
        gate.Set();
        await Task.WhenAll(work).WaitAsync(Cancel);
        Assert.True(report.Leaks.Count == 2, report.ToString());
        Assert.Contains(report.Leaks, leak => leak.WaitingOn == $"ManualResetEventSlim.Wait() at RunningWorkTests.cs:{SourceLine.Of("split-wait")} (its thread is blocked)");
        Assert.Contains(report.Leaks, leak => leak.WaitingOn.StartsWith("nothing: it is running RunningWorkTests.", StringComparison.Ordinal)
            && leak.WaitingOn.EndsWith($" at RunningWorkTests.cs:{SourceLine.Of("split-busy")}", StringComparison.Ordinal));
        Assert.All(report.Leaks, leak => Assert.Equal(1, leak.Count));

        void Body(int index)
        {
            if (index != 0) { Interlocked.Increment(ref running); while (!Volatile.Read(ref stop)) { } return; } // @split-busy
            Volatile.Write(ref waiter, Thread.CurrentThread);
            Interlocked.Increment(ref running);
            gate.Wait(); // @split-wait
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Running_work_keeps_its_text_when_thread_stacks_are_turned_off()
    {
        using var unasked = StackReadsAsked.Unasked();
        using var gate = new ManualResetEventSlim();
        var options = new NoLeaksOptions { GracePeriod = Scopes.ShortGrace, Source = Scopes.Source, ReadThreadStacks = false };
        var leak = await BlockedLeakAsync(() => gate.Wait(), () => gate.Set(), options, check: report => Assert.Empty(report.Warnings));
        Assert.Equal("nothing: its delegate is still running", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Unasked_the_stack_is_read_while_another_test_is_being_checked()
    {
        SkipWhereTracingIsRefused();
        using var unasked = StackReadsAsked.Unasked();

        // Another test's scope, begun in an execution context of its own (not a parent of the checked one): the read
        // stops the threads only a few milliseconds at a time, so it is made beside other tests too.
        using var other = await Task.Run(() => LeakScope.Begin("OtherTests.Runs_beside"), Cancel);
        using var gate = new ManualResetEventSlim();
        var options = new NoLeaksOptions { GracePeriod = Scopes.ShortGrace, Source = Scopes.Source };
        LeakReport? seen = null;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var leak = await BlockedLeakAsync(() => gate.Wait(), () => gate.Set(), options, check: report => seen = report); // @unasked
        Assert.Equal($"ManualResetEventSlim.Wait() at RunningWorkTests.cs:{SourceLine.Of("unasked")} (its thread is blocked)", leak.WaitingOn);
        Assert.Empty(seen!.Warnings);

        // The time the report says was waited leaves the read out (a child process that attaches: well over 0.2 s), or
        // a slow read would read as "N s waited in all", the sign of a starved thread pool.
        Assert.True(watch.Elapsed - seen.Waited > TimeSpan.FromSeconds(0.2), $"waited {seen.Waited}, the whole check {watch.Elapsed}");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_read_stops_the_threads_of_this_process_only_for_milliseconds()
    {
        // About time itself: a thread that ticks every millisecond keeps ticking while the stacks are read. When the
        // reader stopped the whole process, its longest gap was the stop: 0.29–0.62 s of a 0.4–0.7 s read; now tens of
        // milliseconds: every thread stands still while the runtime's records are read and every thread's frames are
        // walked, once (this collection runs alone, so only the machine's scheduling adds to it).
        SkipWhereTracingIsRefused();
        using var stop = new CancellationTokenSource();
        long longestGap = 0;
        var ticks = 0;
        var ticker = new Thread(() =>
        {
            var last = System.Diagnostics.Stopwatch.GetTimestamp();
            while (!stop.IsCancellationRequested)
            {
                Thread.Sleep(1);
                var now = System.Diagnostics.Stopwatch.GetTimestamp();
                longestGap = Math.Max(longestGap, now - last);
                last = now;
                Interlocked.Increment(ref ticks);
            }
        }) { IsBackground = true };
        ticker.Start();

        // A delegate blocked on its thread: the read must find it, whichever way the runtime's records are read.
        using var gate = new ManualResetEventSlim();
        var blocked = Task.Run(gate.Wait, Cancel);
        IReadOnlyList<ThreadStack>? stacks;
        string? failure;
        var read = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            SpinWait.SpinUntil(() => Volatile.Read(ref ticks) > 10, TimeSpan.FromSeconds(10));
            Interlocked.Exchange(ref longestGap, 0);
            read.Restart();
            stacks = ThreadStacks.Read(null, out failure);
            read.Stop();
        }
        finally
        {
            await stop.CancelAsync();
            ticker.Join();
            gate.Set();
            await blocked;
        }

        Assert.True(stacks is not null, failure);
        Assert.Contains(stacks, thread => thread.TaskIds.Contains(blocked.Id) && thread.Frames.Count > 0);
        var gap = TimeSpan.FromSeconds((double)longestGap / System.Diagnostics.Stopwatch.Frequency);
        TestContext.Current.TestOutputHelper?.WriteLine($"longest gap {gap.TotalMilliseconds:0.0} ms; the read took {read.ElapsedMilliseconds} ms ({stacks.Count} threads)");
        // 150 ms, or a third of the read on a loaded machine, where the stops stretch with everything else (CI, .NET 9
        // with two test processes beside: 221 ms in a read of 2.2 s). A reader that stops the process for the whole
        // read stops it for most of it.
        var allowed = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(150).Ticks, read.Elapsed.Ticks / 3));
        Assert.True(gap < allowed, $"a thread of this process stood still {gap.TotalMilliseconds:0} ms while the stacks were read ({read.ElapsedMilliseconds} ms)");
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Thread_stacks_have_the_shape_the_description_relies_on()
    {
        SkipWhereTracingIsRefused();
        // Fails loudly when the runtime or ClrMD changes what a blocked thread's stack looks like: a task id found on its
        // thread, the thread outside managed code, the blocking call right above the user's frame.
        using var gate = new ManualResetEventSlim();
        using var blocked = new ManualResetEventSlim();
        Thread? worker = null;
        var task = Task.Run(() =>
        {
            worker = Thread.CurrentThread;
            blocked.Set();
            gate.Wait();
        }, Cancel);
        try
        {
            blocked.Wait(Cancel);
            WaitUntilBlocked(() => worker);
            var stacks = ThreadStacks.Read(null, out var failure);
            Assert.True(stacks is not null, failure);
            var thread = Assert.Single(stacks, t => t.TaskIds.Contains(task.Id));
            Assert.True(thread.Preemptive);
            var user = thread.Frames.ToList().FindIndex(f => f.Name.Contains(nameof(Thread_stacks_have_the_shape_the_description_relies_on), StringComparison.Ordinal));
            Assert.True(user > 0, string.Join("\n", thread.Frames));
            Assert.Equal("System.Threading.ManualResetEventSlim.Wait()", thread.Frames[user - 1].Name);
            Assert.True(thread.Frames[user].ILOffset >= 0, thread.Frames[user].ToString());
        }
        finally
        {
            gate.Set();
            await task.WaitAsync(Cancel);
        }
    }

    /// <summary>
    /// Runs <paramref name="block"/> as a Task.Run delegate of a scope that ends once its thread is blocked (never by a
    /// sleep), then <paramref name="release"/>s it and returns the scope's single leak.
    /// </summary>
    private static async Task<TaskLeak> BlockedLeakAsync(Action block, Action release, NoLeaksOptions? options = null, Action<LeakReport>? check = null)
    {
        Thread? worker = null;
        Task? work = null;
        var report = await Scopes.CheckAsync("blocked", () =>
        {
            work = Task.Run(() =>
            {
                worker = Thread.CurrentThread;
                block();
            });
            WaitUntilBlocked(() => worker);
            return Task.CompletedTask;
        }, options ?? Options);

        release();
        await work!.WaitAsync(Cancel);

        // Shown with a failure: a stack read that failed says why in the report's warnings.
        TestContext.Current.TestOutputHelper?.WriteLine(report.ToString());
        check?.Invoke(report);
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.DelegateTask, leak.Kind);
        Assert.True(leak.IsRunning);
        return leak;
    }

    /// <summary>Waits until the thread is in a blocking wait (Monitor.Wait, Thread.Sleep, a wait handle): its state says so.</summary>
    private static void WaitUntilBlocked(Func<Thread?> thread)
    {
        while (thread() is not { } t || (t.ThreadState & ThreadState.WaitSleepJoin) == 0)
        {
            Cancel.ThrowIfCancellationRequested();
            Thread.Yield();
        }
    }
}
