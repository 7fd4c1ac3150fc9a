using System.Runtime.CompilerServices;

namespace NoLeaks.TestTargets;

/// <summary>Async methods compiled without optimizations: their state machines are classes.</summary>
public static class UnoptimizedWork
{
    /// <summary>Starts a wait on a completion source nothing else holds (in a frame of its own): it can never resume.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void StartOrphanedWait() => _ = WaitOnOrphanAsync();

    /// <summary>Waits on <paramref name="task"/>.</summary>
    public static async Task AwaitAsync(Task task) => await task;

    private static async Task WaitOnOrphanAsync()
    {
        var nobodyElse = new TaskCompletionSource();
        await nobodyElse.Task; // @unoptimized-orphan
    }
}
