using System.Runtime.CompilerServices;
using System.Text.Json;
using NoLeaks.Reporting;

namespace NoLeaks.Tests.Reporting;

// Run alone: while these ran in parallel with RetentionTests' heap search, that search hung in 4 of 7 runs of this
// suite (0 of 4 without them); not understood yet.
[CollectionDefinition(nameof(RunReportTests), DisableParallelization = true)]
[Collection(nameof(RunReportTests))]
public class RunReportTests
{
    private static LeakEntry Leak(string test, string? file, int line, string action = "fail", string method = "OrderQueue.PumpAsync") => new()
    {
        Test = test,
        Action = action,
        Kind = nameof(LeakKind.AsyncMethod),
        Method = method,
        MethodFullName = "Shop." + method,
        File = file,
        Line = line,
        WaitingOn = "Channel<Order>.Reader.ReadAsync()",
        CreatedBy = "test " + test,
    };

    private static RunReport Run(int checkedTests, params LeakEntry[] leaks) =>
        new() { Runs = [new ProcessRun("Shop.Tests", checkedTests, "2026-12-01T00:00:00.0000000+00:00", 42)], Leaks = [.. leaks] };

    [Fact]
    public void Console_block_lists_await_sites_by_number_of_tests_most_first()
    {
        var report = Run(1204,
            Leak("A", "src/Shop/Mailer.cs", 9, method: "Mailer.SendAsync"),
            Leak("B", "src/Shop/OrderQueue.cs", 42),
            Leak("C", "src/Shop/OrderQueue.cs", 42),
            Leak("C", "src/Shop/Audit.cs", 100, method: "Audit.FlushAsync"),
            Leak("D", null, 0, method: "Cache.RefreshAsync"));

        var lines = ConsoleSummary.Format(report).Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(
        [
            "NoLeaks: 4 of 1,204 tests left async work behind",
            "     2 tests  src/Shop/OrderQueue.cs:42  OrderQueue.PumpAsync, suspended",
            "     1 test   src/Shop/Audit.cs:100  Audit.FlushAsync, suspended",
            "     1 test   src/Shop/Mailer.cs:9  Mailer.SendAsync, suspended",
            "     1 test   (no source line)  Cache.RefreshAsync, suspended",
        ], lines);
    }

    [Fact]
    public void Json_round_trips_and_merging_sums_runs_and_keeps_every_leak()
    {
        var first = Run(10, Leak("A", "src/Shop/OrderQueue.cs", 42) with { Chain = [new ChainFrame("OrderTests.Saves_order", "tests/OrderTests.cs", 12, Continuation: false)] });
        var second = Run(5, Leak("B", "src/Shop/OrderQueue.cs", 42, action: "warn"), Leak("B", null, 0));

        var read = JsonReport.Parse(JsonReport.Format(first), "first");
        var merged = RunReport.Merge([read, JsonReport.Parse(JsonReport.Format(second), "second")]);

        Assert.Equal(JsonReport.Format(first), JsonReport.Format(read));
        Assert.Equal(first.Leaks[0].Chain, read.Leaks[0].Chain);
        Assert.Equal(first.Runs, read.Runs);
        Assert.Equal(15, merged.TestsChecked);
        Assert.Equal(2, merged.TestsWithLeaks);
        Assert.Equal(["A fail src/Shop/OrderQueue.cs:42", "B warn src/Shop/OrderQueue.cs:42", "B fail (no source line)"], merged.Leaks.Select(l => $"{l.Test} {l.Action} {l.Where}"));
        var site = merged.BySite()[0];
        Assert.Equal(("src/Shop/OrderQueue.cs:42", 2, true), (site.Where, site.Tests.Count, site.AnyFailed));
    }

    [Fact]
    public void Json_uses_the_documented_field_names()
    {
        using var json = JsonDocument.Parse(JsonReport.Format(Run(3, Leak("A", "src/Shop/OrderQueue.cs", 42))));

        var root = json.RootElement;
        Assert.Equal(["version", "runs", "leaks"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["assembly", "testsChecked", "startedAt", "processId"], root.GetProperty("runs")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(
            ["test", "action", "kind", "method", "methodFullName", "file", "line", "waitingOn", "createdBy", "count", "chain"],
            root.GetProperty("leaks")[0].EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public void Work_a_fixture_held_is_listed_under_the_test_that_started_it_with_the_fixture()
    {
        var held = Leak("Shop.Tests.OrderTests.Starts_host", "src/Shop/Pinger.cs", 12) with { HeldBy = "class fixture WebAppFixture" };
        var report = Run(2, held, Leak("Shop.Tests.OrderTests.Saves_order", "src/Shop/OrderQueue.cs", 42, action: "warn"));

        using var json = JsonDocument.Parse(JsonReport.Format(report));
        var leaks = json.RootElement.GetProperty("leaks");
        Assert.Equal("class fixture WebAppFixture", leaks[0].GetProperty("heldBy").GetString());
        Assert.False(leaks[1].TryGetProperty("heldBy", out _));
        Assert.Equal(["class fixture WebAppFixture", null], JsonReport.Parse(JsonReport.Format(report), "x.json").Leaks.Select(leak => leak.HeldBy));
        var markdown = MarkdownReport.Format(report);
        Assert.Contains("- **Shop.Tests.OrderTests.Starts_host** (held by class fixture WebAppFixture, which failed its cleanup): ", markdown);
        Assert.Contains("- **Shop.Tests.OrderTests.Saves_order** (warned): ", markdown);
    }

    [Fact]
    public void Work_in_a_hosted_service_carries_its_runs_in_line()
    {
        const string runsIn = "hosted service `OrderPump` (a BackgroundService registered in the host built at OrderTests.cs:31) is still running";
        var report = Run(2, Leak("A", "src/Shop/OrderPump.cs", 20) with { HostedService = runsIn }, Leak("B", "src/Shop/OrderQueue.cs", 42));

        using var json = JsonDocument.Parse(JsonReport.Format(report));
        var leaks = json.RootElement.GetProperty("leaks");
        Assert.Equal(runsIn, leaks[0].GetProperty("hostedService").GetString());
        Assert.False(leaks[1].TryGetProperty("hostedService", out _));
        Assert.Equal([runsIn, null], JsonReport.Parse(JsonReport.Format(report), "x.json").Leaks.Select(leak => leak.HostedService));
    }

    [Fact]
    public void A_report_of_another_version_or_not_a_report_is_refused()
    {
        Assert.Contains("version 2", Assert.Throws<InvalidDataException>(() => JsonReport.Parse("""{"version":2,"runs":[],"leaks":[]}""", "x.json")).Message);
        Assert.Contains("not a NoLeaks report", Assert.Throws<InvalidDataException>(() => JsonReport.Parse("[1,2]", "x.json")).Message);
    }

    [Fact]
    public void Annotations_are_one_per_await_site_escaped_and_at_most_fifty()
    {
        var leaks = Enumerable.Range(1, 60).Select(i => Leak($"T{i}", "src/a,b:c.cs", i)).Append(Leak("T0", "src/a,b:c.cs", 1, action: "warn")).ToArray();
        var lines = GitHubAnnotations.Lines(Run(100, leaks)).ToList();

        Assert.Equal(GitHubAnnotations.MaxAnnotations + 1, lines.Count);
        Assert.Equal(
            "::error file=src/a%2Cb%3Ac.cs,line=1,title=NoLeaks%3A 2 tests left OrderQueue.PumpAsync behind::OrderQueue.PumpAsync (AsyncMethod) waiting on Channel<Order>.Reader.ReadAsync(). Tests: T1, T0",
            lines[0]);
        Assert.Equal("::warning title=NoLeaks::10 more await sites with leaks are not annotated; see the job summary or the JSON report.", lines[^1]);
        Assert.StartsWith("::warning file=", GitHubAnnotations.Lines(Run(1, Leak("W", "x.cs", 3, action: "warn"))).Single());
    }

    [Fact]
    public void Source_paths_are_relative_to_the_repository_or_full_outside_one()
    {
        var thisFile = ThisFile();

        Assert.Equal("tests/NoLeaks.Tests/Reporting/RunReportTests.cs", SourcePaths.Display(thisFile));
        Assert.Equal("src/Shop/OrderQueue.cs", SourcePaths.Display("/_/src/Shop/OrderQueue.cs"));
        var outside = Path.Combine(Path.GetTempPath(), $"noleaks-{Guid.NewGuid():N}", "Outside.cs");
        Assert.Equal(outside.Replace('\\', '/'), SourcePaths.Display(outside));
    }

    [Fact]
    public void Outputs_write_nothing_for_a_run_without_leaks()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"noleaks-{Guid.NewGuid():N}");
        var console = new StringWriter();
        var environment = new Dictionary<string, string?>
        {
            ["NOLEAKS_REPORT"] = folder,
            ["GITHUB_ACTIONS"] = "true",
            ["GITHUB_STEP_SUMMARY"] = Path.Combine(folder, "summary.md"),
        };

        new RunOutputs(name => environment.GetValueOrDefault(name), console, console).Publish(Run(50), inTestProcess: true);

        Assert.Equal("", console.ToString());
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public void Tests_run_unchecked_are_said_without_leaks_kept_in_the_json_and_summed_by_a_merge()
    {
        const string Why = "runs its tests without xunit's before/after-test attributes.";
        var run = new ProcessRun("Shop.Tests", 10, "2026-12-01T00:00:00.0000000+00:00", 42)
        {
            Unchecked = [new UncheckedTests("FsCheck.Xunit.PropertyTestCase", 2, Why)],
        };
        var report = new RunReport { Runs = [run] };
        var folder = Path.Combine(Path.GetTempPath(), $"noleaks-{Guid.NewGuid():N}");
        var console = new StringWriter();

        new RunOutputs(name => name == "NOLEAKS_REPORT" ? folder : null, console, console).Publish(report, inTestProcess: true);

        Assert.Equal($"NoLeaks warning: 2 tests ran without a leak check: FsCheck.Xunit.PropertyTestCase {Why}{Environment.NewLine}", console.ToString());
        Assert.False(Directory.Exists(folder));

        using var json = JsonDocument.Parse(JsonReport.Format(report));
        var group = Assert.Single(json.RootElement.GetProperty("runs")[0].GetProperty("unchecked").EnumerateArray());
        Assert.Equal(["runner", "tests", "why"], group.EnumerateObject().Select(p => p.Name));
        var read = JsonReport.Parse(JsonReport.Format(report), "report");
        Assert.Equal(run.Unchecked, read.Runs[0].Unchecked!);

        var merged = RunReport.Merge([read, report, Run(5, Leak("A", "src/Shop/OrderQueue.cs", 42))]);
        Assert.Equal(4, merged.TestsUnchecked);
        var lines = ConsoleSummary.Format(merged).Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"NoLeaks warning: 4 tests ran without a leak check: FsCheck.Xunit.PropertyTestCase {Why}", lines[^1]);
        Assert.Single(lines, line => line.Contains("without a leak check", StringComparison.Ordinal));
    }

    [Fact]
    public void Merge_command_refuses_what_it_cannot_read()
    {
        var error = new StringWriter();
        Assert.Equal(2, ReportCommand.Run(["merge"], _ => null, TextWriter.Null, error));
        Assert.Contains("Usage: noleaks merge", error.ToString());
        Assert.Equal(2, ReportCommand.Run(["merge", "/no/such/folder"], _ => null, TextWriter.Null, error));
        Assert.Contains("no report file or folder /no/such/folder", error.ToString());
        var empty = Directory.CreateTempSubdirectory("noleaks-").FullName;
        Assert.Equal(2, ReportCommand.Run(["merge", empty, "--output", "report.txt"], _ => null, TextWriter.Null, error));
        Assert.Contains("--output must name a .json or .md file", error.ToString());
    }

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
