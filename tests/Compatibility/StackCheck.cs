using NoLeaks;

namespace Compatibility;

/// <summary>
/// A delegate task blocked on its thread, reported with the blocking call and its line: read by NoLeaks.Stacks.dll, the
/// child process shipped inside the NoLeaks package, started with this test process's own dotnet host and runtime.
/// </summary>
public static class StackCheck
{
    public static async Task<LeakReport> RunAsync()
    {
        using var gate = new ManualResetEventSlim();
        Thread? worker = null;
        Task? work = null;
        var options = new NoLeaksOptions { GracePeriod = TimeSpan.FromMilliseconds(100), ReadThreadStacks = true };
        try
        {
            return await LeakDetector.CheckAsync(() =>
            {
                work = Task.Run(() => { Volatile.Write(ref worker, Thread.CurrentThread); gate.Wait(); });

                // The check reads the thread once it is blocked.
                SpinWait.SpinUntil(() => Volatile.Read(ref worker) is { } t && (t.ThreadState & ThreadState.WaitSleepJoin) != 0, 60_000);
                return Task.CompletedTask;
            }, options);
        }
        finally
        {
            gate.Set();
            if (work is not null)
            {
                await work;
            }
        }
    }

    /// <summary>Null when the report names the blocking call and the line of StackCheck.cs it was made at, else why not.</summary>
    public static string? Problem(LeakReport report) =>
        report.Leaks.Count == 1
        && report.Leaks[0].WaitingOn.StartsWith("ManualResetEventSlim.Wait() at StackCheck.cs:", StringComparison.Ordinal)
        && report.Leaks[0].WaitingOn.EndsWith("(its thread is blocked)", StringComparison.Ordinal)
        && report.Warnings.Count == 0
            ? null
            : "the blocking call was not named:\n" + report;
}
