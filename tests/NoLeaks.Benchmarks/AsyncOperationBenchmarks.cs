using BenchmarkDotNet.Attributes;
using NoLeaks;

namespace NoLeaks.Benchmarks;

/// <summary>
/// The cost NoLeaks adds to every async operation: 1,000 async methods that each suspend once (a box is created,
/// tracked, raises its creation and completion events, completes). Each mode runs in its own process, so the
/// baseline has neither tracking nor the creation hook.
/// </summary>
[MemoryDiagnoser]
public class AsyncOperationBenchmarks
{
    private const int Operations = 1_000;
    private LeakScope? _scope;

    public enum Mode
    {
        /// <summary>NoLeaks never started.</summary>
        Baseline,

        /// <summary>Only the runtime's task tracking switched on, NoLeaks never started: the floor under NoLeaks.</summary>
        RuntimeTrackingOnly,

        /// <summary>Engine started, no scope current: the cost for code outside tests.</summary>
        TrackedOutsideScope,

        /// <summary>A scope is current: every operation is recorded as the scope's.</summary>
        TrackedInScope,
    }

    [Params(Mode.Baseline, Mode.RuntimeTrackingOnly, Mode.TrackedOutsideScope, Mode.TrackedInScope)]
    public Mode Tracking { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (Tracking == Mode.RuntimeTrackingOnly)
        {
            ConcurrencyScalingBenchmarks.SwitchRuntimeTrackingOn();
        }
        else if (Tracking != Mode.Baseline)
        {
            LeakScope.Begin("warm-up").EndAsync().GetAwaiter().GetResult();
        }
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public void AsyncMethodThatSuspendsOnce()
    {
        if (Tracking == Mode.TrackedInScope)
        {
            _scope = LeakScope.Begin("in scope", new NoLeaksOptions { GracePeriod = TimeSpan.Zero });
        }

        RunAsync().GetAwaiter().GetResult();
        _scope?.EndAsync().GetAwaiter().GetResult();
    }

    private static async Task RunAsync()
    {
        for (var i = 0; i < Operations; i++)
        {
            await StepAsync();
        }
    }

    private static async Task StepAsync() => await Task.Yield();
}
