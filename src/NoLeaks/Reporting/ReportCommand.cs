namespace NoLeaks.Reporting;

/// <summary>
/// <c>noleaks merge &lt;folder or file&gt;… [--output report.json|report.md]</c>: reads the reports test processes wrote
/// to <c>NOLEAKS_REPORT</c>, prints the run's summary, writes the merged report, and under GitHub Actions annotates the
/// await sites and appends the summary to the job summary.
/// </summary>
internal static class ReportCommand
{
    public const string Usage = """
        Usage: noleaks merge <folder or .json file>... [--output <file.json|file.md>]
          Merges the reports NoLeaks wrote to NOLEAKS_REPORT=<folder> (one per test process or CI shard), prints the
          run's summary, and writes the merged report. With GITHUB_ACTIONS=true it also writes one annotation per await
          site and appends the Markdown summary to $GITHUB_STEP_SUMMARY.
        Exit code: 0 (leaks or not), 2 for a usage error or a file that is not a NoLeaks report.
        """;

    public static int Run(string[] args, Func<string, string?> environment, TextWriter output, TextWriter error)
    {
        if (args.Length < 2 || args[0] != "merge")
        {
            error.WriteLine(Usage);
            return 2;
        }

        var inputs = new List<string>();
        string? target = null;
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i] is "--output" or "-o")
            {
                if (++i == args.Length)
                {
                    error.WriteLine(Usage);
                    return 2;
                }

                target = args[i];
            }
            else
            {
                inputs.Add(args[i]);
            }
        }

        RunReport report;
        try
        {
            report = JsonReport.ReadAll(inputs);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            error.WriteLine($"noleaks: {e.Message}");
            return 2;
        }

        if (target is not null)
        {
            if (Path.GetExtension(target).ToLowerInvariant() is not (".json" or ".md"))
            {
                error.WriteLine($"noleaks: --output must name a .json or .md file, not {target}");
                return 2;
            }

            RunOutputs.WriteReport(report, target);
        }

        if (report.Leaks.Count == 0)
        {
            output.WriteLine($"NoLeaks: no test of {report.TestsChecked.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} left async work behind ({report.Runs.Count} report{(report.Runs.Count == 1 ? "" : "s")})");
            output.Write(ConsoleSummary.UncheckedLines(report));
            return 0;
        }

        new RunOutputs(environment, output, output).Publish(report, inTestProcess: false);
        return 0;
    }
}
