using BenchmarkDotNet.Attributes;
using NoLeaks;

namespace NoLeaks.Benchmarks;

/// <summary>Begin + End of a clean scope, alone and with unrelated pending tasks alive in the process.</summary>
[MemoryDiagnoser]
public class ScopeBenchmarks
{
    private readonly TaskCompletionSource _never = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task> _unrelated = [];
    private LeakScope? _otherTest;

    /// <summary>Pending async methods of another test that runs in parallel (its scope stays open).</summary>
    [Params(0, 1_000)]
    public int UnrelatedPendingTasks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        LeakScope.Begin("warm-up").EndAsync().GetAwaiter().GetResult();
        if (UnrelatedPendingTasks > 0)
        {
            // On a flow of its own, as a parallel test's: its scope is not current here.
            Task.Run(() =>
            {
                _otherTest = LeakScope.Begin("another test");
                for (var i = 0; i < UnrelatedPendingTasks; i++)
                {
                    _unrelated.Add(AwaitAsync(_never.Task));
                }
            }).GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _never.TrySetResult();
        _otherTest?.Dispose();
    }

    [Benchmark]
    public bool BeginAndEndCleanScope()
    {
        var scope = LeakScope.Begin("clean");
        return scope.EndAsync().GetAwaiter().GetResult().IsClean;
    }

    private static async Task AwaitAsync(Task task) => await task;
}
