using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

using NoLeaks.Tracking;

namespace NoLeaks.Tests.Fuzz;

/// <summary>
/// Many scopes at once, as a parallel test run makes them: each churns through short-lived work, some leave work
/// behind that finishes during the grace period, and every tenth leaks one known method. Every report must be exactly
/// right: no failed check, no false positive, no miss, no leak named in another scope. docs/reliability.md has the
/// full run's figures and command.
/// </summary>
[Collection(nameof(Reliability))]
public class ParallelStressTests
{
    /// <summary>How many scopes (default <see cref="DefaultScopes"/>; longer runs locally).</summary>
    public const string ScopesVariable = "NOLEAKS_STRESS_SCOPES";

    private const int DefaultScopes = 1000;
    private const int Workers = 16;
    private static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan StuckGrace = TimeSpan.FromSeconds(1);

    /// <param name="stuckCheckOnEveryLeak">Runs the stuck check (one full collection per leaking scope): the churn
    /// completes work all the time, and work completing during the check must never be taken for work nothing can
    /// reach.</param>
    [Theory(Timeout = 600_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Parallel_scopes_with_churn_report_exactly_their_own_leaks(bool stuckCheckOnEveryLeak)
    {
        var scopes = int.TryParse(Environment.GetEnvironmentVariable(ScopesVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : DefaultScopes;
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 2 * Workers), io);

        var problems = new ConcurrentQueue<string>();
        var counts = new ConcurrentDictionary<string, int>();
        var clock = Stopwatch.StartNew();
        var next = -1;
        void Worker()
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < scopes)
            {
                // Each thread runs its scopes one after the other and blocks on each, as a parallel test collection does.
                var problem = RunScopeAsync(index, counts, stuckCheckOnEveryLeak).GetAwaiter().GetResult();
                if (problem is not null)
                {
                    problems.Enqueue(problem);
                }
            }
        }

        var threads = Enumerable.Range(0, Workers).Select(i => new Thread(Worker) { IsBackground = true, Name = $"stress {i}" }).ToList();
        threads.ForEach(t => t.Start());
        await Task.Run(() => threads.ForEach(t => t.Join()), TestContext.Current.CancellationToken);

        var summary = $"{scopes} scopes on {Workers} threads in {clock.Elapsed.TotalSeconds:0.0} s: "
            + string.Join(", ", new[] { "leaking", "searched", "internal exceptions", "false positives", "misses", "misattributions", "false stuck verdicts", "searches without an answer", "answers without a search", "late work waited for" }
                .Select(k => $"{counts.GetValueOrDefault(k)} {k}"));
        TestContext.Current.TestOutputHelper!.WriteLine(summary);
        Assert.True(problems.IsEmpty, summary + "\n" + string.Join("\n", problems.Take(10)));
        Assert.Equal((scopes + 9) / 10, counts.GetValueOrDefault("leaking"));
    }

    private static async Task<string?> RunScopeAsync(int index, ConcurrentDictionary<string, int> counts, bool stuckCheckOnEveryLeak)
    {
        var random = new Random(index);
        var name = $"stress scope {index}";
        var leaking = index % 10 == 0;
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LeakReport report;
        // With the stuck check, a grace period long enough for it (it holds the runtime's task lock through a full
        // collection, which delays every other scope's churn); without it, the short one, and the check skipped.
        // The search of the heap for what holds a leak, with the stuck check, in every fourth leaking scope (all five
        // holding methods take turns), so that searches run while other scopes churn, end and are checked; a search per
        // leaking scope would make the run a queue of searches (they run one at a time). Where it is on by default only
        // (not on .NET 8 and 9: NoLeaksOptions.DefaultRetentionBudget).
        var searched = stuckCheckOnEveryLeak && leaking && index / 10 % 4 == 0 && NoLeaksOptions.DefaultRetentionBudget > TimeSpan.Zero;
        var options = stuckCheckOnEveryLeak
            ? new NoLeaksOptions { GracePeriod = StuckGrace, RetentionBudget = searched ? TimeSpan.FromSeconds(1) : TimeSpan.Zero }
            : new NoLeaksOptions { GracePeriod = Grace, DetectStuckWork = false, RetentionBudget = TimeSpan.Zero };
        var scope = LeakScope.Begin(name, options);
        try
        {
            await ChurnAsync(random);
            if (leaking)
            {
                counts.AddOrUpdate("leaking", 1, (_, c) => c + 1);
                if (searched)
                {
                    counts.AddOrUpdate("searched", 1, (_, c) => c + 1);
                }

                _ = Hold(index / 10 % 5, held.Task);
            }

            report = await scope.EndAsync();
        }
        finally
        {
            held.TrySetResult();
        }

        var problems = new List<string>();
        void Count(string kind, string what)
        {
            counts.AddOrUpdate(kind, 1, (_, c) => c + 1);
            problems.Add($"{kind}: {what}");
        }

        foreach (var warning in report.Warnings)
        {
            if (IsLateWorkWaitedFor(warning))
            {
                // A loaded machine: work that got its thread, or its timer, late, and that the check waited for.
                counts.AddOrUpdate("late work waited for", 1, (_, c) => c + 1);
                continue;
            }

            Count("internal exceptions", warning);
        }

        var expected = leaking ? HoldName(index / 10 % 5) : null;
        foreach (var leak in report.Leaks)
        {
            if (leak.Verdict == StuckCheck.Verdict)
            {
                // Every leak here is held by the scope's own code until its report is back.
                Count("false stuck verdicts", leak.ToString());
            }

            if ((leak.RetentionPath is not null) != searched)
            {
                Count(searched ? "searches without an answer" : "answers without a search", leak.ToString());
            }

            if (leak.ScopeName != name || (expected is not null && leak.Method != expected && leak.Method.StartsWith(nameof(ParallelStressTests) + ".Hold", StringComparison.Ordinal)))
            {
                Count("misattributions", leak.ToString());
            }
            else if (leak.Method != expected || leak.Count != 1)
            {
                Count("false positives", leak.ToString());
            }
        }

        if (expected is not null && !report.Leaks.Any(l => l.Method == expected && l.ScopeName == name))
        {
            Count("misses", expected);
        }

        return problems.Count == 0 ? null : $"{name}: {string.Join("; ", problems)}\n{report}";
    }

    /// <summary>Short-lived work of every common kind, all finished (or finishing within the grace period) by the end.</summary>
    private static async Task ChurnAsync(Random random)
    {
        var steps = random.Next(5, 30);
        for (var step = 0; step < steps; step++)
        {
            switch (random.Next(7))
            {
                case 0:
                    await Task.Yield();
                    break;
                case 1:
                    await Task.Run(() => Thread.SpinWait(100));
                    break;
                case 2:
                    await Task.WhenAll(Enumerable.Range(0, random.Next(1, 5)).Select(_ => Task.Run(async () => await Task.Delay(1))));
                    break;
                case 3:
                    var channel = Channel.CreateBounded<int>(1);
                    var reader = Task.Run(async () => await channel.Reader.ReadAsync());
                    await channel.Writer.WriteAsync(step);
                    await reader;
                    break;
                case 4:
                    // Fire and forget, finished well within the grace period: never a leak. Its timer starts here, not in
                    // a Task.Run: on an overloaded machine a Task.Run may get its thread only as the grace period ends and
                    // then start a fresh timer, which the check finds pending (it waits for a starved pool and for a late
                    // timer, not for a timer that started late).
                    _ = FireAndForgetAsync(random.Next(0, 10));
                    break;
                case 5:
                    var done = new TaskCompletionSource<int>();
                    var continuation = done.Task.ContinueWith(t => t.Result + 1, TaskContinuationOptions.ExecuteSynchronously);
                    done.SetResult(step);
                    await continuation;
                    break;
                default:
                    await foreach (var _ in CountAsync(random.Next(1, 4)))
                    {
                    }

                    break;
            }
        }
    }

    private static async Task FireAndForgetAsync(int milliseconds) => await Task.Delay(milliseconds).ConfigureAwait(false);

    private static async IAsyncEnumerable<int> CountAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return i;
        }
    }

    private static string HoldName(int which) => $"{nameof(ParallelStressTests)}.Hold{(char)('A' + which)}";

    private static Task Hold(int which, Task held) => which switch
    {
        0 => HoldA(held),
        1 => HoldB(held),
        2 => HoldC(held),
        3 => HoldD(held),
        _ => HoldE(held),
    };

    private static async Task HoldA(Task held) => await held;

    private static async Task HoldB(Task held) => await held;

    private static async Task HoldC(Task held) => await held;

    private static async Task HoldD(Task held) => await held;

    private static async Task HoldE(Task held) => await held;

    /// <summary>
    /// The note of a check that waited past its grace period for late work that then ran (a starved pool, a timer that
    /// fired late): true of a loaded machine, not a failed check.
    /// </summary>
    internal static bool IsLateWorkWaitedFor(string warning) =>
        (warning.StartsWith("the thread pool was starved when the grace period ended", StringComparison.Ordinal)
            || warning.StartsWith("the scope's work waited on a Task.Delay that was due", StringComparison.Ordinal))
        && warning.Contains("the check waited", StringComparison.Ordinal);
}
