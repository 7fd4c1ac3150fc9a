using System.Reflection;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using NoLeaks;

namespace NoLeaks.Benchmarks;

/// <summary>
/// Async throughput under concurrency, with and without NoLeaks: each invocation runs a fixed number of async
/// operations spread over <see cref="Workers"/> concurrent workers, so the time per operation is the inverse of the
/// throughput. Each mode runs in its own process:
/// <list type="bullet">
/// <item><see cref="Mode.Baseline"/>: NoLeaks never started, the runtime's task tracking off.</item>
/// <item><see cref="Mode.RuntimeTracking"/>: only the runtime's own tracking switched on (what a debugger's Tasks
/// window switches on), no NoLeaks code: the floor under any tracking-based detector.</item>
/// <item><see cref="Mode.NoLeaks"/>: the engine started and a scope open around the workers, so every operation is
/// recorded as the scope's, as in a test under <c>[NoTaskLeaks]</c>.</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
public class ConcurrencyScalingBenchmarks
{
    private const int Operations = 16_384;

    public enum Mode
    {
        /// <summary>No tracking at all.</summary>
        Baseline,

        /// <summary>The runtime's task tracking on, no NoLeaks.</summary>
        RuntimeTracking,

        /// <summary>NoLeaks' default (tracking) source with a scope open around the work.</summary>
        NoLeaks,
    }

    public enum Workload
    {
        /// <summary>Async methods that each suspend once at <c>await Task.Yield()</c>.</summary>
        Yield,

        /// <summary>Async methods that each take and release one shared <c>SemaphoreSlim</c> with <c>WaitAsync</c>.</summary>
        Lock,

        /// <summary>As many producers as consumers on one bounded <c>Channel&lt;int&gt;</c>; an operation is one item.</summary>
        Channel,

        /// <summary><c>Task.Run</c> fan-out of four delegates awaited with <c>WhenAll</c>; an operation is one delegate.</summary>
        FanOut,
    }

    [Params(Mode.Baseline, Mode.RuntimeTracking, Mode.NoLeaks)]
    public Mode Tracking { get; set; }

    [ParamsSource(nameof(Workloads))]
    public Workload Work { get; set; }

    [ParamsSource(nameof(WorkerCounts))]
    public int Workers { get; set; }

    /// <summary>Every workload, or those named in <c>NOLEAKS_BENCH_WORKLOADS</c> (e.g. <c>Yield,Lock</c>).</summary>
    public static IEnumerable<Workload> Workloads() =>
        Environment.GetEnvironmentVariable("NOLEAKS_BENCH_WORKLOADS") is { Length: > 0 } names
            ? names.Split(',').Select(name => Enum.Parse<Workload>(name.Trim(), ignoreCase: true))
            : Enum.GetValues<Workload>();

    /// <summary>1, 2, 4, 8 and 16 workers, or the counts in <c>NOLEAKS_BENCH_WORKERS</c> (e.g. <c>1,16</c>).</summary>
    public static IEnumerable<int> WorkerCounts() =>
        Environment.GetEnvironmentVariable("NOLEAKS_BENCH_WORKERS") is { Length: > 0 } counts
            ? counts.Split(',').Select(count => int.Parse(count.Trim(), System.Globalization.CultureInfo.InvariantCulture))
            : [1, 2, 4, 8, 16];

    private readonly SemaphoreSlim _lock = new(1, 1);
    private long _counter;

    [GlobalSetup]
    public void Setup()
    {
        if (Tracking == Mode.RuntimeTracking)
        {
            SwitchRuntimeTrackingOn();
        }
        else if (Tracking == Mode.NoLeaks)
        {
            LeakScope.Begin("warm-up").EndAsync().GetAwaiter().GetResult();
        }

        // Enough threads for every worker from the start: thread injection is not what is measured.
        ThreadPool.GetMinThreads(out var worker, out var io);
        ThreadPool.SetMinThreads(Math.Max(worker, 2 * Workers + 4), io);
    }

    /// <summary>
    /// Switches the runtime's task tracking on without NoLeaks: <c>Task.s_asyncDebuggingEnabled</c>, the switch NoLeaks
    /// turns on too (see RuntimeTaskTracking in the core).
    /// </summary>
    internal static void SwitchRuntimeTrackingOn()
    {
        var flag = typeof(Task).GetField("s_asyncDebuggingEnabled", BindingFlags.Static | BindingFlags.NonPublic)
            ?? throw new InvalidOperationException("this runtime has no Task.s_asyncDebuggingEnabled");
        flag.SetValue(null, true);
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public long Run()
    {
        var scope = Tracking == Mode.NoLeaks
            ? LeakScope.Begin("scaling", new NoLeaksOptions { GracePeriod = TimeSpan.Zero })
            : null;
        var perWorker = Operations / Workers;
        var work = Work switch
        {
            Workload.Yield => Spread(() => YieldLoopAsync(perWorker)),
            Workload.Lock => Spread(() => LockLoopAsync(perWorker)),
            Workload.Channel => ChannelAsync(perWorker),
            _ => Spread(() => FanOutLoopAsync(perWorker)),
        };
        work.GetAwaiter().GetResult();
        if (scope is not null && !scope.EndAsync().GetAwaiter().GetResult().IsClean)
        {
            throw new InvalidOperationException("the benchmark's scope reported a leak: it measures leak-free work only");
        }

        return Interlocked.Read(ref _counter);
    }

    private Task Spread(Func<Task> worker)
    {
        var workers = new Task[Workers];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(worker);
        }

        return Task.WhenAll(workers);
    }

    private static async Task YieldLoopAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await YieldOnceAsync();
        }
    }

    private static async Task YieldOnceAsync() => await Task.Yield();

    private async Task LockLoopAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await TakeLockOnceAsync();
        }
    }

    private async Task TakeLockOnceAsync()
    {
        await _lock.WaitAsync();
        try
        {
            _counter++;
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task ChannelAsync(int perWorker)
    {
        var channel = Channel.CreateBounded<int>(new BoundedChannelOptions(64) { SingleReader = false, SingleWriter = false });
        var producers = new Task[Workers];
        var consumers = new Task[Workers];
        for (var i = 0; i < Workers; i++)
        {
            producers[i] = Task.Run(() => ProduceAsync(channel.Writer, perWorker));
            consumers[i] = Task.Run(() => ConsumeAsync(channel.Reader));
        }

        await Task.WhenAll(producers);
        channel.Writer.Complete();
        await Task.WhenAll(consumers);
    }

    private static async Task ProduceAsync(ChannelWriter<int> writer, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await writer.WriteAsync(i);
        }
    }

    private async Task ConsumeAsync(ChannelReader<int> reader)
    {
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var item))
            {
                Interlocked.Add(ref _counter, item & 1);
            }
        }
    }

    private async Task FanOutLoopAsync(int count)
    {
        for (var i = 0; i < count; i += 4)
        {
            await Task.WhenAll(
                Task.Run(Step),
                Task.Run(Step),
                Task.Run(Step),
                Task.Run(Step));
        }
    }

    private void Step() => Interlocked.Increment(ref _counter);
}
