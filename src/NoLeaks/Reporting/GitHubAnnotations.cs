using System.Globalization;
using System.Text;

namespace NoLeaks.Reporting;

/// <summary>
/// GitHub Actions workflow commands: one <c>::error</c> (a leak that failed a test) or <c>::warning</c> (warn mode)
/// per distinct await site, so that leaks show on the pull request's diff.
/// </summary>
internal static class GitHubAnnotations
{
    /// <summary>GitHub shows at most 10 annotations of a kind per step and 50 per job; more are noise.</summary>
    public const int MaxAnnotations = 50;

    public static IEnumerable<string> Lines(RunReport report)
    {
        var sites = report.BySite();
        foreach (var site in sites.Take(MaxAnnotations))
        {
            var leak = site.First;
            var tests = site.Tests.Count;
            var title = $"NoLeaks: {tests} test{(tests == 1 ? "" : "s")} left {leak.Method} behind";
            var message = new StringBuilder();
            message.Append(CultureInfo.InvariantCulture, $"{leak.Method} ({leak.Kind}) waiting on {leak.WaitingOn}. Tests: ");
            message.Append(string.Join(", ", site.Tests.Take(10)));
            if (tests > 10)
            {
                message.Append(CultureInfo.InvariantCulture, $" and {tests - 10} more");
            }

            var location = leak.File is null ? "" : $"file={Property(leak.File)},line={leak.Line},";
            yield return $"::{(site.AnyFailed ? "error" : "warning")} {location}title={Property(title)}::{Data(message.ToString())}";
        }

        if (sites.Count > MaxAnnotations)
        {
            yield return $"::warning title=NoLeaks::{sites.Count - MaxAnnotations} more await sites with leaks are not annotated; see the job summary or the JSON report.";
        }
    }

    // The escaping the Actions runner undoes (toolkit/core command.ts: escapeData, escapeProperty).
    private static string Data(string text) =>
        text.Replace("%", "%25", StringComparison.Ordinal).Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal);

    private static string Property(string text) =>
        Data(text).Replace(":", "%3A", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);
}
