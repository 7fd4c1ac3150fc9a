using System.Diagnostics;
using System.Text;

namespace NoLeaks.Tests.Fuzz;

/// <summary>
/// Runs one generated case in a scope and judges its report: no warning (above all no failed check), every strand
/// left pending reported once with its innermost method, nothing that completed reported, everything in the case's
/// scope.
/// </summary>
internal static class FuzzRunner
{
    /// <summary>Long enough for work opened in the first milliseconds of the grace period to finish on a loaded machine.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMilliseconds(150);

    private static readonly TimeSpan StrandTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Runs the case; returns null when its report is right, otherwise what was wrong, with the case and report.</summary>
    public static async Task<string?> RunAsync(FuzzCase fuzzCase)
    {
        var name = $"fuzz case {fuzzCase.Seed}";
        var options = new NoLeaksOptions { GracePeriod = Grace, CountDormantContinuations = fuzzCase.CountDormant };
        var fromFilter = fuzzCase.Strands.Where(s => s.Ending == Ending.OpenedFromFilter).ToList();
        if (fromFilter.Count > 0)
        {
            options.Ignore.Add(Ignore.Where(_ => OpenFromFilter(fromFilter), "opens gates in the middle of the check"));
        }

        // Never completed: work still running on it (a strand left pending, opened after the check) must be able to queue.
        var pair = new ConcurrentExclusiveSchedulerPair();
        using var cancelled = new CancellationTokenSource();
        if (fuzzCase.CancelledEnd)
        {
            await cancelled.CancelAsync();
        }

        var timers = new List<Timer>();
        LeakReport report;
        long reportedAt;
        var endStarted = 0L;
        var seen = new GraceEndObservation(fuzzCase.Strands);
        var scope = LeakScope.Begin(name, options);
        try
        {
            foreach (var strand in fuzzCase.Strands)
            {
                _ = strand.Start(pair); // left running on purpose: what it leaves pending is the case
            }

            foreach (var strand in fuzzCase.Strands.Where(s => s.Ending == Ending.OpenedBeforeEnd))
            {
                strand.Gate.Open(strand.Outcome);
                await Observe(strand.Root!).WaitAsync(StrandTimeout);
            }

            using (ExecutionContext.SuppressFlow())
            {
                foreach (var strand in fuzzCase.Strands.Where(s => s.Ending == Ending.OpenedDuringGrace))
                {
                    timers.Add(new Timer(static s => ((Strand)s!).Gate.Open(((Strand)s!).Outcome), strand, strand.DelayMilliseconds, Timeout.Infinite));
                }
            }

            // Which strands had finished before the grace period was over, as a timer (no task, no flowed context) saw them
            // a little before its end. The report is made after the grace period, so these must not be in it; work that
            // finished later may have been pending at the final check, and reporting it is right too.
            endStarted = Stopwatch.GetTimestamp();
            using (ExecutionContext.SuppressFlow())
            {
                timers.Add(new Timer(static s => ((GraceEndObservation)s!).Observe(), seen, Grace * 0.8, Timeout.InfiniteTimeSpan));
            }

            report = fuzzCase.EndInsideContinuation
                ? await EndInsideContinuationAsync(scope, cancelled.Token)
                : await scope.EndAsync(cancellationToken: cancelled.Token);
            reportedAt = Stopwatch.GetTimestamp();
        }
        finally
        {
            foreach (var strand in fuzzCase.Strands)
            {
                strand.Gate.Open(strand.Outcome);
            }

            foreach (var timer in timers)
            {
                await timer.DisposeAsync();
            }

            scope.Dispose();
        }

        // Read after the timers are disposed (their callbacks done). A timer late past the grace period (a loaded
        // machine) proves nothing: then no strand counts as finished. Nor does it when the report did not wait the
        // grace period (a first check that found nothing counted): its check ran before the timer looked.
        HashSet<Strand> finishedInGrace = seen.At != 0 && seen.At - endStarted <= Grace.TotalSeconds * Stopwatch.Frequency && report.Waited >= Grace
            ? seen.Finished
            : [];
        var verdict = Judge(fuzzCase, name, report, reportedAt, finishedInGrace);
        foreach (var strand in fuzzCase.Strands)
        {
            if (!await Observe(strand.Root!).WaitAsync(StrandTimeout).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default))
            {
                verdict = $"{verdict}{fuzzCase}\n  ✗ the harness: a strand did not finish {StrandTimeout.TotalSeconds} s after its gate opened: {strand}\n";
            }

            strand.Gate.Dispose();
        }

        return verdict;
    }

    private static bool OpenFromFilter(List<Strand> strands)
    {
        foreach (var strand in strands)
        {
            if (strand.OpenInline)
            {
                strand.Gate.Open(strand.Outcome);
            }
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(static s => s.Gate.Open(s.Outcome), strand, preferLocal: false);
            }
        }

        return false;
    }

    /// <summary>The end of the scope called from a ContinueWith(ExecuteSynchronously) continuation the scope owns.</summary>
    private static Task<LeakReport> EndInsideContinuationAsync(LeakScope scope, CancellationToken cancellation)
    {
        var trigger = new TaskCompletionSource();
        var ended = trigger.Task.ContinueWith(
            _ => scope.EndAsync(cancellationToken: cancellation).AsTask(),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default).Unwrap();
        trigger.SetResult();
        return ended;
    }

    private static async Task Observe(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Faulted and cancelled gates make faulted and cancelled strands: complete all the same.
        }
    }

    private static string? Judge(FuzzCase fuzzCase, string name, LeakReport report, long reportedAt, HashSet<Strand> finishedInGrace)
    {
        var problems = new List<string>();
        var expected = new List<Expected>();
        var inFlight = false;
        foreach (var strand in fuzzCase.Strands)
        {
            var opened = strand.Gate.OpenedAt;
            var openedBeforeReport = opened != 0 && opened < reportedAt;
            var settled = openedBeforeReport && finishedInGrace.Contains(strand);

            // With a cancelled end there is no grace period: whatever was opened may still be finishing. So may a
            // strand opened during the grace period that had not finished when the report was made (on a loaded
            // machine its launcher can still be running then): it is seen as it is at that instant.
            if (!settled || fuzzCase.CancelledEnd)
            {
                expected.AddRange(strand.WhenPending(optional: openedBeforeReport, early: fuzzCase.CancelledEnd || openedBeforeReport));
                inFlight |= openedBeforeReport;
            }
        }

        if (fuzzCase.EndInsideContinuation)
        {
            // The continuation running the end is the scope's, and running on the checking thread: the engine may
            // leave it out (it is the check itself) or report it, a policy being changed; nothing else may come of it.
            expected.Add(new([$"{nameof(FuzzRunner)}.{nameof(EndInsideContinuationAsync)} (lambda)"], null, Optional: true, "the continuation ending the scope"));

            // This method, when its box was created in the scope, awaits the end through the continuation's Unwrap
            // promise, which the engine cannot know for its own.
            expected.Add(new([$"{nameof(FuzzRunner)}.{nameof(RunAsync)}"], LeakKind.AsyncMethod, Optional: true, "the harness awaiting the end through a continuation"));
        }

        foreach (var warning in report.Warnings)
        {
            // Work still in flight when the report was made may be waiting for a pool thread: on a starved pool the
            // report says so, truly.
            if (!(fuzzCase.CancelledEnd && warning.Contains("grace period was cut short", StringComparison.Ordinal))
                && !(inFlight && warning.Contains("the pool is starved", StringComparison.Ordinal))
                && !ParallelStressTests.IsLateWorkWaitedFor(warning))
            {
                problems.Add("warning: " + warning);
            }
        }

        // Dormant continuations are listed apart unless the options count them as leaks.
        if (fuzzCase.CountDormant ? report.DormantContinuations.Count > 0 : report.Leaks.Any(l => l.Kind == LeakKind.DormantContinuation))
        {
            problems.Add($"dormant continuations in the wrong list (counted: {fuzzCase.CountDormant})");
        }

        // Each reported operation is matched to a distinct piece of pending work; identical stacks may be merged, so
        // a group of identical expectations needs at least one report, at most one per operation.
        var groups = expected.GroupBy(e => e.Key).Select(g => new Group(g.First(), g.Count(), g.Count(e => !e.Optional))).ToList();
        foreach (var leak in report.Leaks.Concat(report.DormantContinuations))
        {
            if (leak.ScopeName != name)
            {
                problems.Add($"attributed to {leak.ScopeName}: {leak}");
            }

            for (var unit = 0; unit < Math.Min(leak.Count, 100); unit++)
            {
                // Work that must be reported takes a matching operation before work that may be: a strand that may
                // still be pending (opened during the grace period) and one left pending can share a method name.
                var group = groups.FirstOrDefault(g => g.Assigned < g.Certain && g.Sample.Matches(leak))
                    ?? groups.FirstOrDefault(g => g.Assigned < g.Capacity && g.Sample.Matches(leak));
                if (group is null)
                {
                    problems.Add($"reported, but nothing of the case is pending with that method and kind ({leak.Kind}): {leak}");
                    break;
                }

                group.Assigned++;
            }
        }

        foreach (var group in groups.Where(g => g.Certain > 0 && g.Assigned == 0))
        {
            problems.Add($"missed: {string.Join(" or ", group.Sample.Names)} ({group.Sample.Kind?.ToString() ?? "any kind"}), left by {group.Sample.Why}");
        }

        if (problems.Count == 0)
        {
            return null;
        }

        var text = new StringBuilder();
        text.AppendLine(fuzzCase.ToString());
        foreach (var problem in problems)
        {
            text.Append("  ✗ ").AppendLine(problem);
        }

        text.AppendLine("  report:");
        foreach (var line in report.ToString().Split('\n'))
        {
            text.Append("    ").AppendLine(line.TrimEnd());
        }

        return text.ToString();
    }

    private sealed class Group(Expected sample, int capacity, int certain)
    {
        public Expected Sample { get; } = sample;

        public int Capacity { get; } = capacity;

        public int Certain { get; } = certain;

        public int Assigned { get; set; }
    }

    /// <summary>The strands whose work had finished when a timer looked, and when it looked.</summary>
    private sealed class GraceEndObservation(IReadOnlyList<Strand> strands)
    {
        public HashSet<Strand> Finished { get; private set; } = [];

        public long At { get; private set; }

        public void Observe()
        {
            Finished = strands.Where(s => s.Root!.IsCompleted).ToHashSet();
            At = Stopwatch.GetTimestamp();
        }
    }
}
