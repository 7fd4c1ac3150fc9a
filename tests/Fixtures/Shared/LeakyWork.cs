namespace NoLeaks.Fixtures;

/// <summary>Async work that waits on a gate nobody opens while the tests run; the fixture process ends it by exiting.</summary>
internal static class LeakyWork
{
    public static readonly TaskCompletionSource Gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>An event nobody sets: delegates blocked on it stay blocked.</summary>
    public static readonly ManualResetEventSlim NeverSet = new();

    public static async Task MethodLevelAsync() => await Gate.Task; // @method-level-await

    /// <summary>Waits on a completion source nothing else holds: it can never resume.</summary>
    public static async Task OrphanedAsync()
    {
        var nobodyElse = new TaskCompletionSource();
        await nobodyElse.Task; // @orphaned-await
    }

    public static async Task ClassLevelAsync() => await Gate.Task; // @class-level-await

    public static async Task AssemblyLevelAsync() => await Gate.Task; // @assembly-level-await

    public static async Task TheoryRowAsync() => await Gate.Task; // @theory-await

    public static async Task OwnFailureAsync() => await Gate.Task; // @own-failure-await

    public static async Task TimeoutAsync() => await Gate.Task; // @timeout-await

    public static async Task ParallelAsync() => await Gate.Task; // @parallel-await

    public static async Task AllowedAsync() => await Gate.Task;

    public static async Task TimeLimitAsync() => await Gate.Task; // @time-limit-await

    public static async Task AssemblyIgnoredAsync() => await Gate.Task;

    public static async Task ClassIgnoredAsync() => await Gate.Task;

    public static async Task MethodIgnoredAsync() => await Gate.Task;

    /// <summary>Work still pending when the test ends that finishes by itself shortly after.</summary>
    public static async Task FinishesSoonAsync() => await Task.Delay(100);

    public static async Task UncheckedAsync() => await Gate.Task;

    public static async Task OwnRunnerAsync() => await Gate.Task;

    public static async Task SkippedAsync() => await Gate.Task;

    public static async Task ContinuedAsync() => await Gate.Task; // @continued-await

    public static async Task AllowedByHeadlineAsync() => await Gate.Task;

    public static async Task BesideTheHostAsync() => await Gate.Task; // @beside-the-host

    /// <summary>Work a fixture or a test class owns until it is stopped.</summary>
    public static async Task RunUntilStoppedAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
