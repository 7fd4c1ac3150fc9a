using System.Globalization;
using System.Text;

namespace NoLeaks.Reporting;

/// <summary>Writes a <see cref="RunReport"/> as Markdown: a file for people, or a GitHub Actions job summary.</summary>
internal static class MarkdownReport
{
    /// <summary>Beyond this many entries a table lists only counts, so that a job summary stays within GitHub's limit.</summary>
    private const int MaxRows = 100;

    public static string Format(RunReport report)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"## {ConsoleSummary.Headline(report)}");
        text.AppendLine();
        if (report.Leaks.Count == 0)
        {
            return text.ToString();
        }

        text.AppendLine("| Tests | Await site | Method | Waiting on |");
        text.AppendLine("|---:|---|---|---|");
        var sites = report.BySite();
        foreach (var site in sites.Take(MaxRows))
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {site.Tests.Count} | {Code(site.Where)} | {Code(site.First.Method)} | {Cell(site.First.WaitingOn)} |");
        }

        AppendRest(text, sites.Count, "await sites");
        text.AppendLine();
        text.AppendLine("<details><summary>Leaks by test</summary>");
        text.AppendLine();
        foreach (var leak in report.Leaks.Take(MaxRows))
        {
            var times = leak.Count > 1 ? $" (x{leak.Count})" : "";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"- **{Cell(leak.Test)}** ({Outcome(leak)}){times}: {Code(leak.Method)} {leak.Kind} at {Code(leak.Where)}, waiting on {Cell(leak.WaitingOn)}, created by {Cell(leak.CreatedBy)}");
            foreach (var frame in leak.Chain)
            {
                var where = frame.File is null ? "" : $" at {Code($"{frame.File}:{frame.Line}")}";
                text.AppendLine(CultureInfo.InvariantCulture, $"  - {(frame.Continuation ? "continued by" : "awaited by")} {Code(frame.Method)}{where}");
            }
        }

        AppendRest(text, report.Leaks.Count, "leaks");
        text.AppendLine();
        text.AppendLine("</details>");
        return text.ToString();
    }

    private static string Outcome(LeakEntry leak) => leak.HeldBy is { } fixture
        ? $"held by {Cell(fixture)}, {(leak.Action == "fail" ? "which failed its cleanup" : "warned")}"
        : leak.Action == "fail" ? "failed" : "warned";

    private static void AppendRest(StringBuilder text, int count, string what)
    {
        if (count > MaxRows)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"… and {count - MaxRows} more {what}, in the JSON report.");
        }
    }

    private static string Code(string text) => "`" + text.Replace("`", "'", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal) + "`";

    private static string Cell(string text) =>
        text.Replace("|", "\\|", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
