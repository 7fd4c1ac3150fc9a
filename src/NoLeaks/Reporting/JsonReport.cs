using System.Text.Json;

namespace NoLeaks.Reporting;

/// <summary>Reads and writes <see cref="RunReport"/> as JSON (docs/report-format.md).</summary>
internal static class JsonReport
{
    public static string Format(RunReport report) => JsonSerializer.Serialize(report, RunReportJson.Default.RunReport);

    /// <summary>Reads a report; throws <see cref="InvalidDataException"/> for a file that is not one this code can read.</summary>
    public static RunReport Parse(string json, string source)
    {
        RunReport? report;
        try
        {
            report = JsonSerializer.Deserialize(json, RunReportJson.Default.RunReport);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source} is not a NoLeaks report: {e.Message}", e);
        }

        if (report is null)
        {
            throw new InvalidDataException($"{source} is not a NoLeaks report");
        }

        if (report.Version != RunReport.CurrentVersion)
        {
            throw new InvalidDataException($"{source} has report version {report.Version}; this NoLeaks reads version {RunReport.CurrentVersion}");
        }

        return report;
    }

    /// <summary>Reads every <c>.json</c> report named: files, and the <c>*.json</c> files of folders.</summary>
    public static RunReport ReadAll(IEnumerable<string> paths)
    {
        var reports = new List<RunReport>();
        foreach (var path in paths)
        {
            IEnumerable<string> files = Directory.Exists(path)
                ? Directory.EnumerateFiles(path, "*.json").Order(StringComparer.Ordinal)
                : File.Exists(path) ? [path] : throw new FileNotFoundException($"no report file or folder {path}", path);
            foreach (var file in files)
            {
                reports.Add(Parse(File.ReadAllText(file), file));
            }
        }

        return RunReport.Merge(reports);
    }
}
