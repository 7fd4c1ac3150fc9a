using System.Globalization;
using System.Text;
using NoLeaks.Analysis;

namespace NoLeaks.Reporting;

/// <summary>Writes a <see cref="LeakReport"/> for people: test output and failure messages.</summary>
internal static class TextReport
{
    /// <summary>Beyond this many distinct stacks the report lists only counts, so that its size stays bounded.</summary>
    internal const int MaxListedLeaks = 25;

    /// <summary>How much longer than the grace period a check may wait before its headline says how long it waited.</summary>
    private static readonly TimeSpan LongerWait = TimeSpan.FromSeconds(1);

    public static string Format(LeakReport report)
    {
        var text = new StringBuilder();
        if (report.IsClean && report.CheckError is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"NoLeaks: {report.ScopeName} was not checked for leaked async operations.");
            text.AppendLine(report.ShouldFail
                ? $"This fails the test because {NoLeaksOptions.StrictEnvironmentVariable}=1 or FailOnCheckError is set."
                : $"Set {NoLeaksOptions.StrictEnvironmentVariable}=1 (or FailOnCheckError) to fail tests that could not be checked.");
            AppendWarnings(text, report);
            return text.ToString().TrimEnd();
        }

        if (report.IsClean)
        {
            text.Append(CultureInfo.InvariantCulture, $"NoLeaks: no leaked async operations from {report.ScopeName}");
            if (report.IgnoredCount > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $" ({report.IgnoredCount} allowed by filters)");
            }

            text.AppendLine();
            AppendDormant(text, report.DormantContinuations);
            AppendWarnings(text, report);
            return text.ToString().TrimEnd();
        }

        var operations = report.LeakedOperationCount;
        text.Append(CultureInfo.InvariantCulture,
            $"NoLeaks: {operations} leaked async operation{(operations == 1 ? "" : "s")} from {report.ScopeName}");
        if (report.Leaks.Count != operations)
        {
            text.Append(CultureInfo.InvariantCulture, $" in {report.Leaks.Count} distinct stack{(report.Leaks.Count == 1 ? "" : "s")}");
        }

        var grace = Seconds(report.GracePeriod < TimeSpan.Zero ? TimeSpan.Zero : report.GracePeriod);
        var neverResuming = report.Leaks.All(leak => leak.Verdict == Tracking.StuckCheck.Verdict);
        var them = operations == 1 ? "it" : "them";

        // A wait extended past the grace period (a starved thread pool) says how long it was in all.
        var extended = report.Waited - report.GracePeriod > LongerWait ? $", {Seconds(report.Waited)} waited in all" : "";
        text.Append(
            neverResuming && report.Waited < report.GracePeriod ? $" (nothing can ever resume {them}: reported at once, without waiting the grace period of {grace})"

            // Found at once, but other work of the test was still pending then: the wait was for that work, which has ended.
            : neverResuming ? $" (nothing can ever resume {them}: reported after the grace period of {grace}, waited for other work of the test that has since ended)"
            : $" (still pending after a grace period of {grace}{extended})");
        text.AppendLine();

        var number = 0;
        foreach (var leak in report.Leaks.Take(MaxListedLeaks))
        {
            number++;
            text.AppendLine();
            AppendLeak(text, number, leak);
        }

        if (report.Leaks.Count > MaxListedLeaks)
        {
            var rest = report.Leaks.Skip(MaxListedLeaks).ToList();
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture,
                $"… and {rest.Count} more distinct stacks ({rest.Sum(l => l.Count)} operations), not listed.");
        }

        AppendDormant(text, report.DormantContinuations);
        text.AppendLine();
        if (report.Action == LeakAction.Warn)
        {
            text.AppendLine("This is a warning only (action Warn, or NOLEAKS_ACTION=warn): the test keeps its result.");
        }

        text.AppendLine("Fix: await, cancel or stop this work before the test ends (Dispose/DisposeAsync count).");
        if (report.Leaks.Any(leak => leak.WaitingOn == RunningWork.StillRunning))
        {
            text.AppendLine("To name the call a running delegate is in, read its thread's stack: NOLEAKS_THREAD_STACKS=1 (Linux, where it is read by default unless turned off or refused; a child process reads it, stopping the threads a few milliseconds at a time).");
        }

        var names = AllowPatterns(report.Leaks).Select(name => $"\"{name}\"").ToList();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Allow it: [NoTaskLeaks(IgnoreAsyncMethods = new[] {{ {string.Join(", ", names)} }})], or {string.Join(", ", names.Select(name => $"Ignore.AsyncMethod({name})"))} in NoLeaksOptions.Ignore.");
        AppendWarnings(text, report);
        return text.ToString().TrimEnd();
    }

    /// <summary>
    /// One pattern per distinct stack that allows it: the innermost method of the user's code in the stack (a
    /// framework or runtime method is nobody's to allow), a lambda by its own name rather than its enclosing method's.
    /// </summary>
    internal static IEnumerable<string> AllowPatterns(IEnumerable<TaskLeak> leaks) =>
        leaks.Select(leak => (leak.AwaitChain.FirstOrDefault(frame => IsUserCode(frame.FullName)) ?? leak.Leaked).QualifiedMethod)
            .Distinct(StringComparer.Ordinal);

    private static bool IsUserCode(string fullName) =>
        !fullName.StartsWith("System.", StringComparison.Ordinal) && !fullName.StartsWith("Microsoft.", StringComparison.Ordinal)
        && !Ignore.FrameworkNamespaces.Any(ns => fullName.StartsWith(ns, StringComparison.Ordinal));

    private static void AppendDormant(StringBuilder text, IReadOnlyList<TaskLeak> dormant)
    {
        if (dormant.Count == 0)
        {
            return;
        }

        text.AppendLine();
        var continuations = dormant.Where(leak => leak.Kind != LeakKind.DormantTask).Sum(leak => leak.Count);
        if (continuations > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"Not counted: {continuations} dormant continuation{(continuations == 1 ? "" : "s")} (ContinueWith on work that nothing the test left running will complete: it never runs and holds only memory).");
        }

        var tasks = dormant.Where(leak => leak.Kind == LeakKind.DormantTask).Sum(leak => leak.Count);
        if (tasks > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"Not counted: {tasks} dormant task{(tasks == 1 ? "" : "s")} (queued to a TaskScheduler that nothing can reach any more: it never ran, never will, and holds only memory).");
        }

        foreach (var leak in dormant.Take(MaxListedLeaks))
        {
            var times = leak.Count > 1 ? $" (x{leak.Count})" : "";
            var what = leak.Kind == LeakKind.DormantTask ? $"waited for {leak.WaitingOn}" : $"continues {Antecedent(leak.WaitingOn)}";

            // The path last on its line, as in every line of the report: a long one then only runs longer.
            text.AppendLine(CultureInfo.InvariantCulture, $"  -{times} {leak.Method}, {what}{Where(leak.AwaitSite, ", defined at")}");
        }
    }

    private static string Antecedent(string waitingOn) =>
        waitingOn.StartsWith("its antecedent, ", StringComparison.Ordinal) ? waitingOn["its antecedent, ".Length..] : "its antecedent";

    private static void AppendLeak(StringBuilder text, int number, TaskLeak leak)
    {
        var times = leak.Count > 1 ? $" (x{leak.Count})" : "";
        var state = leak.IsRunning ? "running" : null;
        var head = leak.Kind switch
        {
            LeakKind.DelegateTask => $"[{number}]{times} {leak.Method}  delegate task, {state ?? "queued"}{Where(leak.AwaitSite, ", defined at")}",
            LeakKind.Continuation => $"[{number}]{times} {leak.Method}  ContinueWith continuation, {state ?? (leak.WaitingOn.EndsWith("(queued, not started)", StringComparison.Ordinal) ? "queued" : "not started")}{Where(leak.AwaitSite, ", defined at")}",
            LeakKind.DormantContinuation => $"[{number}]{times} {leak.Method}  dormant ContinueWith continuation{Where(leak.AwaitSite, ", defined at")}",
            LeakKind.DormantTask => $"[{number}]{times} {leak.Method}  dormant task (never ran){Where(leak.AwaitSite, ", defined at")}",
            LeakKind.AbandonedAsyncMethod => $"[{number}]{times} {leak.Method}  abandoned (garbage-collected unfinished){Where(leak.AwaitSite, " at")}",
            _ when leak.IsRunning => $"[{number}]{times} {leak.Method}  running (between two awaits)",
            _ => $"[{number}]{times} {leak.Method}  suspended{Where(leak.AwaitSite, " at")}",
        };
        text.AppendLine(head);
        text.AppendLine($"      waiting on  {leak.WaitingOn}");
        var below = leak.Leaked;
        foreach (var frame in leak.AwaitedBy)
        {
            var name = NameBeside(frame, below);
            // A frame of code without a PDB (a framework's or a library's) has no line to show: its name says enough.
            var site = frame.AwaitSite is { FilePath: not null } known ? known : null;
            text.AppendLine(frame.IsContinuation
                ? $"      continued by  {name} (ContinueWith){Where(site, ", defined at")}"
                : $"      awaited by  {name}{Where(site, "  at")}");
            below = frame;
        }

        if (leak.HostedService is { } hosted)
        {
            text.AppendLine($"      runs in     {hosted}");
        }

        text.AppendLine(CultureInfo.InvariantCulture,
            $"      created by  {leak.CreatedBy}{(leak.Age is { } age ? $", {Seconds(age)} ago" : "")}");
        if (leak.RetentionPath is { } path)
        {
            text.AppendLine($"      held by     {path}");
        }

        if (leak.Verdict is { } verdict)
        {
            text.AppendLine($"      verdict     {verdict}");
        }

        if (leak.CreationStack is { } stack)
        {
            text.AppendLine("      created at");
            foreach (var line in stack.Split('\n'))
            {
                text.AppendLine("        " + line.TrimEnd());
            }
        }
    }

    /// <summary>
    /// The frame's name, said apart from the frame it awaits when both read the same but are other code: two lambdas of
    /// one method (<c>Scheduler.Start (another lambda)</c>), two overloads. The same code awaiting itself (recursion)
    /// keeps its name.
    /// </summary>
    internal static string NameBeside(AsyncFrame frame, AsyncFrame below)
    {
        if (frame.Method != below.Method || frame.Code is null || below.Code is null || frame.Code == below.Code)
        {
            return frame.Method;
        }

        const string Lambda = " (lambda)";
        return frame.Method.EndsWith(Lambda, StringComparison.Ordinal)
            ? frame.Method[..^Lambda.Length] + " (another lambda)"
            : frame.Method + " (another overload)";
    }

    private static string Where(AwaitSite? site, string prefix) => site is null ? "" : $"{prefix} {site}";

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";

    private static void AppendWarnings(StringBuilder text, LeakReport report)
    {
        foreach (var warning in report.Warnings)
        {
            text.AppendLine("NoLeaks warning: " + warning);
        }
    }
}
