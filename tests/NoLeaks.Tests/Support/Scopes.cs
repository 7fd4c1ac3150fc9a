namespace NoLeaks.Tests.Support;

/// <summary>Runs code in a fresh scope and returns its report.</summary>
internal static class Scopes
{
    /// <summary>A short grace period: leak tests wait it out, so it is kept small.</summary>
    public static readonly TimeSpan ShortGrace = TimeSpan.FromMilliseconds(100);

    /// <summary>The source under test: tracking here, the heap in NoLeaks.Heap.Tests (which compiles this file with NOLEAKS_HEAP).</summary>
#if NOLEAKS_HEAP
    public const LeakSource Source = LeakSource.Heap;
#else
    public const LeakSource Source = LeakSource.Auto;
#endif

    public static NoLeaksOptions Options(TimeSpan? grace = null) => new() { GracePeriod = grace ?? ShortGrace, Source = Source };

    /// <summary>Begins a scope, runs <paramref name="body"/> inside it, ends it.</summary>
    public static async Task<LeakReport> CheckAsync(string name, Func<Task> body, NoLeaksOptions? options = null)
    {
        var scope = LeakScope.Begin(name, options ?? Options());
        await body();
        return await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);
    }

    /// <summary>The single leak of a report, with the report as the message when there is not exactly one.</summary>
    public static TaskLeak Single(LeakReport report)
    {
        Assert.True(report.Leaks.Count == 1, $"expected one leak, got {report.Leaks.Count}:\n{report}");
        return report.Leaks[0];
    }

    public static void Clean(LeakReport report) => Assert.True(report.IsClean, report.ToString());
}
