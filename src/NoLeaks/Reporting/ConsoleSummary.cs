using System.Globalization;
using System.Text;

namespace NoLeaks.Reporting;

/// <summary>The console text of a run: the end-of-run block and the one line per warned test.</summary>
internal static class ConsoleSummary
{
    /// <summary>Beyond this many await sites the block lists only their count.</summary>
    private const int MaxSites = 30;

    /// <summary><c>NoLeaks: 7 of 1,204 tests left async work behind</c>.</summary>
    public static string Headline(RunReport report)
    {
        var leaked = report.TestsWithLeaks;
        var checkedTests = report.TestsChecked;
        var of = checkedTests >= leaked && checkedTests > 0 ? $" of {checkedTests.ToString("N0", CultureInfo.InvariantCulture)}" : "";
        return $"NoLeaks: {leaked.ToString("N0", CultureInfo.InvariantCulture)}{of} test{(checkedTests == 1 || (of.Length == 0 && leaked == 1) ? "" : "s")} left async work behind";
    }

    /// <summary>The block: the headline, then one line per await site with its count of tests, most frequent first.</summary>
    public static string Format(RunReport report)
    {
        var text = new StringBuilder();
        text.AppendLine(Headline(report));
        var sites = report.BySite();
        foreach (var site in sites.Take(MaxSites))
        {
            var tests = site.Tests.Count;
            text.AppendLine(CultureInfo.InvariantCulture,
                $"  {tests,4} test{(tests == 1 ? " " : "s")}  {site.Where}  {site.First.Method}, {Describe(site.First.Kind)}");
        }

        if (sites.Count > MaxSites)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  … and {sites.Count - MaxSites} more await sites (NOLEAKS_REPORT=<folder> writes them all)");
        }

        text.Append(UncheckedLines(report));
        return text.ToString();
    }

    /// <summary>One line per runner that ran tests without the check their attributes ask for; empty when none did.</summary>
    public static string UncheckedLines(RunReport report)
    {
        var text = new StringBuilder();
        var groups = report.Runs.SelectMany(run => run.Unchecked ?? [])
            .GroupBy(group => (group.Runner, group.Why))
            .OrderBy(group => group.Key.Runner, StringComparer.Ordinal);
        foreach (var group in groups)
        {
            var tests = group.Sum(run => run.Tests);
            text.AppendLine(CultureInfo.InvariantCulture,
                $"NoLeaks warning: {tests:N0} test{(tests == 1 ? "" : "s")} ran without a leak check: {group.Key.Runner} {group.Key.Why}");
        }

        return text.ToString();
    }

    /// <summary>The line for one test in warn mode: test, count, first await site.</summary>
    public static string WarnedTest(LeakReport report, LeakEntry first)
    {
        var count = report.LeakedOperationCount;
        return $"NoLeaks warning: {report.ScopeName} left {count} async operation{(count == 1 ? "" : "s")} behind, first {first.Method} at {first.Where} (the test keeps its result)";
    }

    private static string Describe(string kind) => kind switch
    {
        nameof(LeakKind.AsyncMethod) => "suspended",
        nameof(LeakKind.DelegateTask) => "delegate task",
        nameof(LeakKind.Continuation) => "continuation",
        nameof(LeakKind.AbandonedAsyncMethod) => "abandoned",
        nameof(LeakKind.DormantContinuation) => "dormant continuation",
        nameof(LeakKind.DormantTask) => "dormant task",
        _ => kind,
    };
}
