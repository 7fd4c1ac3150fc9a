using BenchmarkDotNet.Attributes;
using NoLeaks;

namespace NoLeaks.Benchmarks;

/// <summary>Begin + End of a clean scope, alone and with unrelated pending tasks alive in the process.</summary>
[MemoryDiagnoser]
public class ScopeBenchmarks
{
    private readonly TaskCompletionSource _never = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task> _unrelated = [];

    /// <summary>Pending async methods created outside any scope (another test's fixtures, say).</summary>
    [Params(0, 1_000)]
    public int UnrelatedPendingTasks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Start the engine first, so that the unrelated tasks are tracked too, as they would be in a test run.
        LeakScope.Begin("warm-up").EndAsync().GetAwaiter().GetResult();
        for (var i = 0; i < UnrelatedPendingTasks; i++)
        {
            _unrelated.Add(AwaitAsync(_never.Task));
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _never.TrySetResult();

    [Benchmark]
    public bool BeginAndEndCleanScope()
    {
        var scope = LeakScope.Begin("clean");
        return scope.EndAsync().GetAwaiter().GetResult().IsClean;
    }

    private static async Task AwaitAsync(Task task) => await task;
}
