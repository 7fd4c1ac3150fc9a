using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests;

/// <summary>Every way of leaving async work behind that NoLeaks promises to catch, with the method and line it names.</summary>
public class LeakPatternTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static class Holder
    {
        public static TaskCompletionSource<int>? Never;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Task_completion_source_never_completed_is_reported_at_its_await()
    {
        Holder.Never = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync(nameof(Task_completion_source_never_completed_is_reported_at_its_await), async () =>
        {
            _ = WaitForeverAsync();
        });

        Holder.Never.SetResult(1);
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.AsyncMethod, leak.Kind);
        Assert.Equal("LeakPatternTests.WaitForeverAsync", leak.Method);
        Assert.Equal("NoLeaks.Tests.LeakPatternTests.WaitForeverAsync", leak.MethodFullName);
        Assert.Equal(SourceLine.Of("tcs"), leak.AwaitSite!.Line);
        Assert.Equal("LeakPatternTests.cs", leak.AwaitSite.FileName);
        Assert.Equal("TaskCompletionSource<int>.Task", leak.WaitingOn);
        Assert.Equal(nameof(Task_completion_source_never_completed_is_reported_at_its_await), leak.ScopeName);
        Assert.Contains($"test {nameof(Task_completion_source_never_completed_is_reported_at_its_await)}", leak.CreatedBy);
        Assert.True(leak.Age > TimeSpan.Zero);
    }

    private static async Task<int> WaitForeverAsync()
    {
        return await Holder.Never!.Task; // @tcs
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Channel_read_with_no_writer_is_reported()
    {
        var channel = Channel.CreateUnbounded<string>();
        var report = await Scopes.CheckAsync("channel", async () => { _ = ReadOneAsync(channel.Reader); });

        channel.Writer.TryWrite("done");
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.ReadOneAsync", leak.Method);
        Assert.Equal(SourceLine.Of("channel-read"), leak.AwaitSite!.Line);
        Assert.StartsWith("ChannelReader<string>.ReadAsync()", leak.WaitingOn);
    }

    private static async Task<string> ReadOneAsync(ChannelReader<string> reader)
    {
        return await reader.ReadAsync(); // @channel-read
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Task_run_loop_that_ignores_cancellation_is_reported_as_a_running_delegate()
    {
        using var stop = new ManualResetEventSlim();
        using var scopeCancellation = new CancellationTokenSource();
        var started = new ManualResetEventSlim();
        var report = await Scopes.CheckAsync("loop", async () =>
        {
            _ = Task.Run(() =>
            {
                started.Set();
                while (!stop.Wait(1)) // @spin
                {
                    // Ignores scopeCancellation on purpose: that is the bug this test plays.
                }
            }, scopeCancellation.Token);
            started.Wait(Cancel);
            scopeCancellation.Cancel();
        });

        stop.Set();
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.DelegateTask, leak.Kind);
        Assert.Equal("LeakPatternTests.Task_run_loop_that_ignores_cancellation_is_reported_as_a_running_delegate (lambda)", leak.Method);
        Assert.Equal("nothing: its delegate is still running", leak.WaitingOn);
        Assert.InRange(leak.AwaitSite!.Line, SourceLine.Of("spin") - 3, SourceLine.Of("spin"));
        Assert.Contains("To name the call a running delegate is in, read its thread's stack: NOLEAKS_THREAD_STACKS=1", report.ToString());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Async_loop_in_task_run_is_reported_at_its_delay()
    {
        using var stop = new CancellationTokenSource();
        var report = await Scopes.CheckAsync("async loop", async () =>
        {
            _ = Task.Run(async () =>
            {
                while (true)
                {
                    await Task.Delay(Timeout.Infinite, stop.Token); // @async-loop
                }
            });
        });

        stop.Cancel();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.Async_loop_in_task_run_is_reported_at_its_delay (lambda)", leak.Method);
        Assert.Equal(SourceLine.Of("async-loop"), leak.AwaitSite!.Line);
        Assert.Equal("Task.Delay(Timeout.Infinite)", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Semaphore_wait_never_released_is_reported()
    {
        using var gate = new SemaphoreSlim(0);
        var report = await Scopes.CheckAsync("semaphore", async () => { _ = EnterAsync(gate); });

        gate.Release();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.EnterAsync", leak.Method);
        Assert.Equal(SourceLine.Of("semaphore"), leak.AwaitSite!.Line);
        Assert.Equal("SemaphoreSlim.WaitAsync()", leak.WaitingOn);
    }

    private static async Task EnterAsync(SemaphoreSlim gate)
    {
        await gate.WaitAsync(); // @semaphore
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Semaphore_wait_with_a_token_is_named_as_the_semaphore_wait()
    {
        // SemaphoreSlim.WaitAsync(token) awaits, inside the runtime, a Task.WaitAsync promise: named by the semaphore.
        using var gate = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        var report = await Scopes.CheckAsync("semaphore with a token", async () => { _ = EnterAsync(gate, stop.Token); });

        stop.Cancel();
        // The runtime's own async method inside (SemaphoreSlim.WaitUntilCountOrTimeoutAsync) is what the test's method
        // waits on, not the entry: the entry is the method that called WaitAsync, at its line.
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.EnterAsync", leak.Method);
        Assert.Equal(SourceLine.Of("semaphore-token"), leak.AwaitSite!.Line);
        Assert.Empty(leak.AwaitedBy);
        if (BclIsRuntimeAsync)
        {
            // .NET 11 compiles the runtime's own method as runtime-async: named as such, and the await line names the call.
            Assert.StartsWith("a .NET runtime-async method", leak.WaitingOn);
            return;
        }

        Assert.Equal("SemaphoreSlim.WaitAsync(), with a timeout or cancellation token", leak.WaitingOn);
    }

    /// <summary>.NET 11 compiles parts of its own library (SemaphoreSlim's waits among them) as runtime-async methods.</summary>
    private static bool BclIsRuntimeAsync => Environment.Version.Major >= 11;

    [Fact(Timeout = TestTimeout)]
    public async Task Semaphore_wait_with_a_token_that_nothing_awaits_is_reported_as_the_semaphore_wait()
    {
        Assert.SkipWhen(Scopes.Source == LeakSource.Heap && BclIsRuntimeAsync,
            "the heap source does not find a runtime-async method of .NET 11's own library that nothing awaits");
        using var gate = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        var report = await Scopes.CheckAsync("semaphore with a token, not awaited", async () => { _ = gate.WaitAsync(stop.Token); });

        stop.Cancel();
        var leak = Scopes.Single(report);
        if (BclIsRuntimeAsync)
        {
            Assert.Equal("a .NET runtime-async method", leak.Method);
            return;
        }

        Assert.Equal("SemaphoreSlim.WaitUntilCountOrTimeoutAsync", leak.Method);

        // The heap source reads the promise, not the semaphore behind it.
        Assert.Equal(
            Scopes.Source == LeakSource.Heap ? "Task.WaitAsync(…), with a timeout or cancellation token" : "SemaphoreSlim.WaitAsync(), with a timeout or cancellation token",
            leak.WaitingOn);
    }

    private static async Task EnterAsync(SemaphoreSlim gate, CancellationToken token)
    {
        await gate.WaitAsync(token); // @semaphore-token
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pipe_read_nobody_writes_to_and_flush_nobody_reads_are_named()
    {
        var empty = new System.IO.Pipelines.Pipe();
        var full = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 1, resumeWriterThreshold: 1, useSynchronizationContext: false));
        var report = await Scopes.CheckAsync("pipes", async () =>
        {
            _ = ReadPipeAsync(empty.Reader);
            _ = FlushPipeAsync(full.Writer);
        });

        await empty.Writer.CompleteAsync();
        await full.Reader.CompleteAsync();
        Assert.Equal(2, report.Leaks.Count);
        Assert.Contains(report.Leaks, leak => leak.Method == "LeakPatternTests.ReadPipeAsync"
            && leak.WaitingOn == "PipeReader.ReadAsync() on a pipe nobody writes to or completes");
        Assert.Contains(report.Leaks, leak => leak.Method == "LeakPatternTests.FlushPipeAsync"
            && leak.WaitingOn == "PipeWriter.FlushAsync() on a pipe nobody reads from or completes");
    }

    private static async Task ReadPipeAsync(System.IO.Pipelines.PipeReader reader) => await reader.ReadAsync();

    private static async Task FlushPipeAsync(System.IO.Pipelines.PipeWriter writer) => await writer.WriteAsync(new byte[16]);

    [Fact(Timeout = TestTimeout)]
    public async Task Periodic_timer_loop_is_reported()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(5));
        var report = await Scopes.CheckAsync("timer", async () => { _ = TickAsync(timer); });

        timer.Dispose();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.TickAsync", leak.Method);
        Assert.Equal(SourceLine.Of("periodic"), leak.AwaitSite!.Line);
        Assert.Equal("PeriodicTimer.WaitForNextTickAsync()", leak.WaitingOn);
    }

    private static async Task TickAsync(PeriodicTimer timer)
    {
        while (await timer.WaitForNextTickAsync()) // @periodic
        {
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Infinite_delay_is_reported()
    {
        using var stop = new CancellationTokenSource();
        var report = await Scopes.CheckAsync("delay", async () => { _ = DelayForeverAsync(stop.Token); });

        stop.Cancel();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.DelayForeverAsync", leak.Method);
        Assert.Equal(SourceLine.Of("infinite"), leak.AwaitSite!.Line);
        Assert.Equal("Task.Delay(Timeout.Infinite)", leak.WaitingOn);
    }

    private static async Task DelayForeverAsync(CancellationToken token)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, token); // @infinite
        }
        catch (OperationCanceledException)
        {
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Three_deep_chain_is_one_leak_with_every_await_line()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("chain", async () => { _ = TopAsync(never.Task); });

        never.SetResult();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.BottomAsync", leak.Method);
        Assert.Equal(SourceLine.Of("bottom"), leak.AwaitSite!.Line);
        Assert.Equal("TaskCompletionSource.Task", leak.WaitingOn);
        Assert.Equal(
            ["LeakPatternTests.MiddleAsync", "LeakPatternTests.TopAsync"],
            leak.AwaitedBy.Select(frame => frame.Method));
        Assert.Equal([SourceLine.Of("middle"), SourceLine.Of("top")], leak.AwaitedBy.Select(frame => frame.AwaitSite!.Line));
        Assert.Contains("awaited by  LeakPatternTests.MiddleAsync  at " + SourceLine.At("middle"), report.ToString());
    }

    private static async Task TopAsync(Task never)
    {
        await MiddleAsync(never); // @top
    }

    private static async Task MiddleAsync(Task never)
    {
        await BottomAsync(never); // @middle
    }

    private static async Task BottomAsync(Task never)
    {
        await never; // @bottom
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Stuck_async_void_is_reported()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("async void", async () => FireAndForget(never.Task));

        never.SetResult();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.FireAndForget", leak.Method);
        Assert.Equal(SourceLine.Of("async-void"), leak.AwaitSite!.Line);
    }

    private static async void FireAndForget(Task never)
    {
        await never; // @async-void
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Leak_started_after_an_await_in_the_test_is_reported()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("after await", async () =>
        {
            await Task.Yield();
            await Task.Delay(1, Cancel);
            _ = AwaitAsync(never.Task);
        });

        never.SetResult();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.AwaitAsync", leak.Method);
        Assert.Equal(SourceLine.Of("plain-await"), leak.AwaitSite!.Line);
    }

    private static async Task AwaitAsync(Task never)
    {
        await never; // @plain-await
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Leak_created_under_suppress_flow_still_belongs_to_the_test()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("suppress flow", async () =>
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(() =>
                {
                    _ = AwaitAsync(never.Task);
                    started.SetResult();
                });
            }

            await started.Task.WaitAsync(Cancel);
        });

        never.SetResult();
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.AwaitAsync", leak.Method);
        Assert.Equal("suppress flow", leak.ScopeName);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Await_foreach_over_a_channel_nobody_completes_is_reported_with_the_consumer()
    {
        var channel = Channel.CreateUnbounded<int>();
        var report = await Scopes.CheckAsync("await foreach", async () => { _ = ConsumeAsync(channel.Reader); });

        channel.Writer.Complete();
        TestContext.Current.TestOutputHelper!.WriteLine(report.ToString());
        var leak = Scopes.Single(report);
        var consumer = leak.AwaitChain.Single(frame => frame.Method == "LeakPatternTests.ConsumeAsync");
        Assert.Equal(SourceLine.Of("await-foreach"), consumer.AwaitSite!.Line);
        Assert.Contains("ReadAllAsync", leak.Method);
        Assert.StartsWith("ChannelReader.WaitToReadAsync()", leak.WaitingOn);
    }

    private static async Task<int> ConsumeAsync(ChannelReader<int> reader)
    {
        var sum = 0;
        await foreach (var item in reader.ReadAllAsync()) // @await-foreach
        {
            sum += item;
        }

        return sum;
    }

    private sealed class PollingWorker(TaskCompletionSource started) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            started.TrySetResult();
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMinutes(1), stoppingToken); // @worker
            }
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Background_service_never_stopped_is_reported()
    {
        IHost? host = null;
        var report = await Scopes.CheckAsync("hosted service", async () =>
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            host = new HostBuilder().ConfigureServices(services => services.AddHostedService(_ => new PollingWorker(started))).Build();
            await host.StartAsync(Cancel);

            // ExecuteAsync runs on the thread pool (.NET 10): the test leaves once it is suspended at its await.
            await started.Task.WaitAsync(Cancel);
        });

        TestContext.Current.TestOutputHelper!.WriteLine(report.ToString());
        await host!.StopAsync(Cancel);
        host.Dispose();
        Assert.False(report.IsClean, report.ToString());
        var worker = report.Leaks.Single(leak => leak.Method == "LeakPatternTests.PollingWorker.ExecuteAsync");
        Assert.Equal(SourceLine.Of("worker"), worker.AwaitSite!.Line);
        Assert.Equal("Task.Delay(…)", worker.WaitingOn);
    }
    [Fact(Timeout = TestTimeout)]
    public async Task Long_running_start_new_is_reported_by_its_delegate()
    {
        using var stop = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        var report = await Scopes.CheckAsync("long running", async () =>
        {
            _ = Task.Factory.StartNew(
                () =>
                {
                    started.Set();
                    stop.Wait();
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            started.Wait(Cancel);
        });

        stop.Set();
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.DelegateTask, leak.Kind);
        Assert.Equal("LeakPatternTests.Long_running_start_new_is_reported_by_its_delegate (lambda)", leak.Method);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Continue_with_on_a_promise_nobody_completes_is_listed_as_dormant_and_not_counted()
    {
        var never = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("continue with", async () =>
        {
            _ = never.Task.ContinueWith(t => t.Result + 1, TaskScheduler.Default); // @dormant
        });

        never.SetResult(1);
        Assert.True(report.IsClean, report.ToString());
        var dormant = Assert.Single(report.DormantContinuations);
        Assert.Equal(LeakKind.DormantContinuation, dormant.Kind);
        Assert.Equal("LeakPatternTests.Continue_with_on_a_promise_nobody_completes_is_listed_as_dormant_and_not_counted (lambda)", dormant.Method);
        Assert.Equal("its antecedent, TaskCompletionSource<int>.Task", dormant.WaitingOn);
        Assert.Contains($", continues TaskCompletionSource<int>.Task, defined at {SourceLine.At("dormant")}", report.ToString());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Dormant_continuations_count_as_leaks_when_the_options_say_so()
    {
        var never = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Scopes.Options();
        options.CountDormantContinuations = true;
        var report = await Scopes.CheckAsync("continue with, counted", async () =>
        {
            _ = never.Task.ContinueWith(t => t.Result + 1, TaskScheduler.Default);
        }, options);

        never.SetResult(1);
        Assert.Equal(LeakKind.DormantContinuation, Scopes.Single(report).Kind);
        Assert.True(report.ShouldFail);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Continue_with_on_a_timer_that_will_fire_is_a_leak()
    {
        using var cancel = new CancellationTokenSource();
        var report = await Scopes.CheckAsync("continue with on a timer", async () =>
        {
            _ = Task.Delay(TimeSpan.FromHours(1), cancel.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        });

        await cancel.CancelAsync();
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.Continuation, leak.Kind);
        Assert.Equal("its antecedent, Task.Delay(…)", leak.WaitingOn);
        Assert.Empty(report.DormantContinuations);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Delay_on_a_time_provider_of_the_user_s_is_named_by_its_timer()
    {
        var report = await Scopes.CheckAsync("time provider", async () => { _ = DelayOnAsync(ManualClock); });

        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.DelayOnAsync", leak.Method);
        Assert.Equal("a delay on a TimeProvider's timer (LeakPatternTests.ManualTimeProvider.ManualTimer): it fires when that provider says so", leak.WaitingOn);
    }

    private static async Task DelayOnAsync(TimeProvider time) => await Task.Delay(TimeSpan.FromSeconds(1), time);

    private static readonly ManualTimeProvider ManualClock = new();

    /// <summary>
    /// A clock that only moves when a test says so, as fake time providers do: it keeps its timers (as they do) and
    /// never fires them here.
    /// </summary>
    private sealed class ManualTimeProvider : TimeProvider
    {
        private readonly List<ITimer> _timers = [];

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(callback, state);
            lock (_timers)
            {
                _timers.Add(timer);
            }

            return timer;
        }

        private sealed class ManualTimer(TimerCallback callback, object? state) : ITimer
        {
            public void Fire() => callback(state);

            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => default;
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Continue_with_on_leaked_work_is_reported_with_that_work_and_says_it_continues()
    {
        var never = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Holder.Never = never;
        var report = await Scopes.CheckAsync("continue with on a leak", async () =>
        {
            _ = WaitForeverAsync().ContinueWith(_ => { }, TaskScheduler.Default); // @continues
        });

        never.SetResult(1);
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.WaitForeverAsync", leak.Method);
        var continuation = Assert.Single(leak.AwaitedBy);
        Assert.True(continuation.IsContinuation);
        Assert.Contains($"continued by  {continuation.Method} (ContinueWith), defined at {SourceLine.At("continues")}", report.ToString());
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Methods_awaited_through_when_all_are_chained_to_their_awaiter()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("when all", async () => { _ = BothAsync(never.Task); });

        never.SetResult();
        Assert.Equal(2, report.Leaks.Count);
        Assert.All(report.Leaks, leak =>
        {
            var parent = Assert.Single(leak.AwaitedBy);
            Assert.Equal("LeakPatternTests.BothAsync", parent.Method);
            Assert.Equal(SourceLine.Of("when-all"), parent.AwaitSite!.Line);
        });
        Assert.Equal(["LeakPatternTests.AwaitAsync", "LeakPatternTests.BottomAsync"], report.Leaks.Select(l => l.Method).Order());
    }

    private static async Task BothAsync(Task never)
    {
        await Task.WhenAll(BottomAsync(never), AwaitAsync(never)); // @when-all
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Async_value_task_method_is_reported()
    {
        var never = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("value task", async () => { _ = ValueAsync(never.Task); });

        never.SetResult(1);
        var leak = Scopes.Single(report);
        Assert.Equal("LeakPatternTests.ValueAsync", leak.Method);
        Assert.Equal(SourceLine.Of("value-task"), leak.AwaitSite!.Line);
    }

    private static async ValueTask<int> ValueAsync(Task<int> never)
    {
        return await never; // @value-task
    }
}
