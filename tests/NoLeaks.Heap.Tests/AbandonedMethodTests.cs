using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;

namespace NoLeaks.Heap.Tests;

/// <summary>An unfinished async method that the GC collects never runs its finally blocks: reported as abandoned.</summary>
[Collection(nameof(AbandonedMethodTests))]
[CollectionDefinition(nameof(AbandonedMethodTests), DisableParallelization = true)]
public class AbandonedMethodTests
{
    private static int s_finallyRuns;

    [Fact(Timeout = 30_000)]
    public async Task Method_collected_while_suspended_is_reported_as_abandoned()
    {
        var report = await Scopes.CheckAsync("abandoned", async () => StartAndDrop());

        Assert.Equal(0, s_finallyRuns);
        var leak = report.Leaks.Single(l => l.Method == "AbandonedMethodTests.HoldsLockAsync");
        Assert.Equal(LeakKind.AbandonedAsyncMethod, leak.Kind);
        Assert.Equal(SourceLine.Of("abandoned-await"), leak.AwaitSite!.Line);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartAndDrop() => _ = HoldsLockAsync(new TaskCompletionSource().Task);

    private static async Task HoldsLockAsync(Task never)
    {
        try
        {
            await never; // @abandoned-await
        }
        finally
        {
            Interlocked.Increment(ref s_finallyRuns);
        }
    }
}
