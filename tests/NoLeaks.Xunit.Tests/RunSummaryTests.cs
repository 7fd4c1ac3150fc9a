using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using NoLeaks.Tests.Support;
using NoLeaks.Xunit.Tests.Support;

namespace NoLeaks.Xunit.Tests;

// End to end: the fixture programs run in their own processes with NOLEAKS_ACTION, NOLEAKS_REPORT and the GitHub
// Actions variables set for them; their console, report files and job summary are read back and compared with the
// tests' own results.
public sealed partial class RunSummaryTests
{
    private const int Timeout = 180_000;
    private const string LeakyWorkPath = "tests/Fixtures/Shared/LeakyWork.cs";

    // The test whose work its class fixture holds and never stops: in the run's reports as that test's leak, held by
    // the fixture (tests/Fixtures/Shared/FixtureOwnershipTests.cs).
    private const string HeldTest = "NoLeaks.Fixtures.ForgetfulHostTests.Test_that_starts_a_host_its_fixture_never_stops_passes";

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Warn_mode_prints_one_console_line_per_warned_test_and_keeps_outcomes(string xunit)
    {
        var run = await FixtureRun.Of($"Xunit{xunit}Fixture", action: "warn");

        var warned = run.Tests.Where(test => test.Output.Contains("This is a warning only", StringComparison.Ordinal)).Select(test => test.Name).ToList();
        var lines = Lines(run.StandardError).Where(line => line.StartsWith("NoLeaks warning: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(warned.Order(), lines.Select(line => WarnedTestName().Match(line).Groups["test"].Value).Order());
        Assert.Contains(
            $"NoLeaks warning: NoLeaks.Fixtures.ClassLevelTests.Leak_in_class_level_test_fails left 1 async operation behind, first LeakyWork.ClassLevelAsync at {LeakyWorkPath}:{AwaitLine("class-level-await")} (the test keeps its result)",
            lines);

        // Only the test that throws on its own fails; every other warned test passed.
        Assert.All(warned.Where(name => !name.EndsWith("keeps_its_own_failure", StringComparison.Ordinal)), name => Assert.Equal("Passed", run.Tests.Single(t => t.Name == name).Outcome));
        var headline = Assert.Single(Lines(run.StandardError), line => Headline().IsMatch(line));
        var match = Headline().Match(headline);
        Assert.Equal(warned.Append(HeldTest).Distinct().Count(), int.Parse(match.Groups["leaked"].Value));
        Assert.InRange(int.Parse(match.Groups["checked"].Value), warned.Count + 1, run.Tests.Count);
        Assert.DoesNotContain(lines, line => line.Contains(HeldTest, StringComparison.Ordinal));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Json_report_lists_every_leak_of_the_run_and_the_console_block_its_await_sites(string xunit)
    {
        var folder = TempFolder();
        var file = Path.Combine(folder, "run.json");
        var run = await FixtureRun.RunAsync($"Xunit{xunit}Fixture", action: null, new Dictionary<string, string> { ["NOLEAKS_REPORT"] = file });

        using var report = JsonDocument.Parse(File.ReadAllText(file));
        var root = report.RootElement;
        Assert.Equal(1, root.GetProperty("version").GetInt32());
        var leaks = root.GetProperty("leaks").EnumerateArray().ToList();
        Assert.Equal(LeakedTests(run).Order(), leaks.Select(leak => leak.GetProperty("test").GetString()!).Distinct().Order());

        var classLevel = Assert.Single(leaks, leak => leak.GetProperty("test").GetString() == "NoLeaks.Fixtures.ClassLevelTests.Leak_in_class_level_test_fails");
        Assert.Equal("fail", classLevel.GetProperty("action").GetString());
        Assert.Equal("AsyncMethod", classLevel.GetProperty("kind").GetString());
        Assert.Equal("LeakyWork.ClassLevelAsync", classLevel.GetProperty("method").GetString());
        Assert.Equal("NoLeaks.Fixtures.LeakyWork.ClassLevelAsync", classLevel.GetProperty("methodFullName").GetString());
        Assert.Equal(LeakyWorkPath, classLevel.GetProperty("file").GetString());
        Assert.Equal(AwaitLine("class-level-await"), classLevel.GetProperty("line").GetInt32());
        Assert.Equal(1, classLevel.GetProperty("count").GetInt32());
        Assert.Equal("TaskCompletionSource.Task", classLevel.GetProperty("waitingOn").GetString());
        Assert.Equal(0, classLevel.GetProperty("chain").GetArrayLength());
        Assert.False(classLevel.TryGetProperty("heldBy", out _));

        // Work the test handed to its class fixture, still pending after the fixture's cleanup: the test that started
        // it, and the fixture that held it.
        var held = Assert.Single(leaks, leak => leak.TryGetProperty("heldBy", out _));
        Assert.Equal("class fixture ForgetfulHostFixture", held.GetProperty("heldBy").GetString());
        Assert.Equal((HeldTest, "fail", "Pinger.ExecuteAsync"), (held.GetProperty("test").GetString(), held.GetProperty("action").GetString(), held.GetProperty("method").GetString()));
        Assert.Equal("tests/Fixtures/Shared/FixtureOwnershipTests.cs", held.GetProperty("file").GetString());
        Assert.Equal(SourceLine.Of("pinger-delay", FixtureSource("FixtureOwnershipTests.cs")), held.GetProperty("line").GetInt32());
        var runs = Assert.Single(root.GetProperty("runs").EnumerateArray().ToList());
        Assert.Equal($"Xunit{xunit}Fixture", runs.GetProperty("assembly").GetString());

        // The console block: one line per await site, with the number of tests that left work there.
        var sites = leaks.Where(leak => leak.TryGetProperty("file", out _))
            .GroupBy(leak => $"{leak.GetProperty("file").GetString()}:{leak.GetProperty("line").GetInt32()}")
            .Select(group => (Where: group.Key, Tests: group.Select(leak => leak.GetProperty("test").GetString()).Distinct().Count()));
        var console = Lines(run.StandardError);
        Assert.All(sites, site => Assert.Contains(console, line => SiteLine().Match(line) is { Success: true } m
            && m.Groups["where"].Value == site.Where && int.Parse(m.Groups["tests"].Value) == site.Tests));
        Assert.Contains(console, line => line.StartsWith($"NoLeaks: {LeakedTests(run).Count} of ", StringComparison.Ordinal));
    }

    [Fact(Timeout = Timeout)]
    public async Task Two_processes_write_to_one_folder_and_noleaks_merge_joins_them()
    {
        var folder = TempFolder();
        var reports = Path.Combine(folder, "reports");
        var environment = new Dictionary<string, string> { ["NOLEAKS_REPORT"] = reports };
        var runs = await Task.WhenAll(
            FixtureRun.RunAsync("XunitV2Fixture", action: null, environment),
            FixtureRun.RunAsync("XunitV3Fixture", action: null, environment));

        var files = Directory.GetFiles(reports, "*.json");
        Assert.Equal(2, files.Length);
        var merged = Path.Combine(folder, "merged.json");
        var markdown = Path.Combine(folder, "merged.md");
        var (exitCode, output, error) = await Merge([reports, "--output", merged]);
        Assert.True(exitCode == 0, error);
        Assert.Equal(0, (await Merge([reports, "-o", markdown])).ExitCode);

        using var mergedReport = JsonDocument.Parse(File.ReadAllText(merged));
        var parts = files.Select(file => JsonDocument.Parse(File.ReadAllText(file))).ToList();
        Assert.Equal(
            parts.SelectMany(part => part.RootElement.GetProperty("leaks").EnumerateArray()).Select(leak => leak.GetRawText()).Order(),
            mergedReport.RootElement.GetProperty("leaks").EnumerateArray().Select(leak => leak.GetRawText()).Order());
        Assert.Equal(["XunitV2Fixture", "XunitV3Fixture"], mergedReport.RootElement.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("assembly").GetString()).Order());
        var leakedTests = LeakedTests(runs[0]).Concat(LeakedTests(runs[1])).Distinct().Order();
        Assert.Equal(leakedTests, mergedReport.RootElement.GetProperty("leaks").EnumerateArray().Select(l => l.GetProperty("test").GetString()!).Distinct().Order());

        // The merge command prints the same console block a test process does, for the whole run.
        var checkedTests = mergedReport.RootElement.GetProperty("runs").EnumerateArray().Sum(r => r.GetProperty("testsChecked").GetInt32());
        Assert.StartsWith($"NoLeaks: {leakedTests.Count()} of {checkedTests} tests left async work behind", output);

        // Markdown: one table row per await site (path:line), the same sites as the JSON.
        var rows = Lines(File.ReadAllText(markdown)).Where(line => line.StartsWith("| ", StringComparison.Ordinal)).Skip(1).ToList();
        var jsonSites = mergedReport.RootElement.GetProperty("leaks").EnumerateArray()
            .Select(l => l.TryGetProperty("file", out var f) ? $"{f.GetString()}:{l.GetProperty("line").GetInt32()}" : l.GetProperty("method").GetString()!).Distinct().Order();
        Assert.Equal(jsonSites, rows.Select(row => row.Split('|')[2].Trim().Trim('`')).Order());
        foreach (var part in parts)
        {
            part.Dispose();
        }
    }

    [Fact(Timeout = Timeout)]
    public async Task Under_GitHub_Actions_each_await_site_is_annotated_and_the_job_summary_written()
    {
        var folder = TempFolder();
        var summary = Path.Combine(folder, "step-summary.md");
        var file = Path.Combine(folder, "run.json");
        var run = await FixtureRun.RunAsync("XunitV3Fixture", action: null, new Dictionary<string, string>
        {
            ["GITHUB_ACTIONS"] = "true",
            ["GITHUB_STEP_SUMMARY"] = summary,
            ["NOLEAKS_REPORT"] = file,
        });

        using var report = JsonDocument.Parse(File.ReadAllText(file));
        var leaks = report.RootElement.GetProperty("leaks").EnumerateArray().ToList();
        var sites = leaks.Where(l => l.TryGetProperty("file", out _)).Select(l => (l.GetProperty("file").GetString()!, l.GetProperty("line").GetInt32())).Distinct().Order().ToList();
        var annotations = Lines(run.StandardOutput).Select(line => Annotation().Match(line)).Where(m => m.Success).ToList();
        Assert.Equal(sites, annotations.Where(a => a.Groups["file"].Success).Select(a => (a.Groups["file"].Value, int.Parse(a.Groups["line"].Value))).Order());
        Assert.All(annotations, a => Assert.Equal("error", a.Groups["level"].Value));
        var classLevel = Assert.Single(annotations, a => a.Groups["line"].Value == AwaitLine("class-level-await").ToString());
        Assert.Equal("NoLeaks%3A 1 test left LeakyWork.ClassLevelAsync behind", classLevel.Groups["title"].Value);
        Assert.Contains("NoLeaks.Fixtures.ClassLevelTests.Leak_in_class_level_test_fails", classLevel.Groups["message"].Value);

        var markdown = Lines(File.ReadAllText(summary));
        Assert.Equal($"## NoLeaks: {LeakedTests(run).Count} of ", markdown[0][..$"## NoLeaks: {LeakedTests(run).Count} of ".Length]);
        Assert.Equal(leaks.Select(l => l.TryGetProperty("file", out var f) ? $"{f.GetString()}:{l.GetProperty("line").GetInt32()}" : l.GetProperty("method").GetString()).Distinct().Count(),
            markdown.Count(line => line.StartsWith("| ", StringComparison.Ordinal)) - 1);
    }

    [Fact(Timeout = Timeout)]
    public async Task With_a_report_folder_the_merge_command_annotates_once_for_all_processes()
    {
        var folder = TempFolder();
        var summary = Path.Combine(folder, "step-summary.md");
        var reports = Path.Combine(folder, "reports");
        var environment = new Dictionary<string, string>
        {
            ["GITHUB_ACTIONS"] = "true",
            ["GITHUB_STEP_SUMMARY"] = summary,
            ["NOLEAKS_REPORT"] = reports,
        };
        var run = await FixtureRun.RunAsync("XunitV3Fixture", action: "warn", environment);

        Assert.DoesNotContain("::", run.StandardOutput);
        Assert.False(File.Exists(summary));
        var (exitCode, output, _) = await Merge([reports], environment);
        Assert.Equal(0, exitCode);
        var annotations = Lines(output).Select(line => Annotation().Match(line)).Where(m => m.Success).ToList();
        Assert.NotEmpty(annotations);
        Assert.All(annotations, a => Assert.Equal("warning", a.Groups["level"].Value));
        var warned = run.Tests.Where(t => t.Output.Contains("This is a warning only", StringComparison.Ordinal)).Select(t => t.Name).Append(HeldTest).Distinct().Count();
        Assert.StartsWith($"## NoLeaks: {warned} of ", File.ReadAllText(summary));
    }

    [Fact(Timeout = Timeout)]
    public async Task A_run_without_leaks_writes_nothing()
    {
        var folder = TempFolder();
        var summary = Path.Combine(folder, "step-summary.md");
        var reports = Path.Combine(folder, "reports");
        var run = await FixtureRun.RunAsync("XunitV3Fixture", action: null, new Dictionary<string, string>
        {
            ["GITHUB_ACTIONS"] = "true",
            ["GITHUB_STEP_SUMMARY"] = summary,
            ["NOLEAKS_REPORT"] = reports,
        }, ["-class", "NoLeaks.Fixtures.DisposeTests", "-class", "NoLeaks.Fixtures.ClassLevelTests"]);

        Assert.Contains(run.Tests, test => test.Name.EndsWith("Clean_class_level_test_passes", StringComparison.Ordinal) && test.Outcome == "Passed");
        Assert.Equal(["ClassLevelTests.Leak_in_class_level_test_fails"], run.Failed);
        Assert.True(Directory.Exists(reports));

        var clean = await FixtureRun.RunAsync("XunitV3Fixture", action: null, new Dictionary<string, string>
        {
            ["GITHUB_ACTIONS"] = "true",
            ["GITHUB_STEP_SUMMARY"] = summary,
            ["NOLEAKS_REPORT"] = Path.Combine(folder, "clean"),
        }, ["-class", "NoLeaks.Fixtures.DisposeTests"]);

        Assert.All(clean.Tests, test => Assert.Equal("Passed", test.Outcome));
        Assert.NotEmpty(clean.Tests);
        Assert.False(Directory.Exists(Path.Combine(folder, "clean")));
        Assert.False(File.Exists(summary));
        Assert.DoesNotContain("NoLeaks", clean.StandardError);
        Assert.DoesNotContain("::", clean.StandardOutput);
    }

    private static Task<(int ExitCode, string Output, string Error)> Merge(string[] arguments, IReadOnlyDictionary<string, string>? environment = null) =>
        FixtureProcess.RunAsync("noleaks", ["exec", FixtureProcess.PathOf(typeof(RunSummaryTests).Assembly, "NoLeaks.Cli"), "merge", .. arguments], action: null, environment);

    // The tests a fail-mode run failed because of a leak (one of them also failed on its own), and the test whose work
    // its fixture held.
    private static List<string> LeakedTests(FixtureRun run) =>
        run.Tests.Where(test => test.Outcome == "Failed" && test.Message.Contains("leaked async operation", StringComparison.Ordinal)).Select(test => test.Name)
            .Append(HeldTest).ToList();

    private static List<string> Lines(string text) => text.Split('\n').Select(line => line.TrimEnd('\r')).ToList();

    private static string TempFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"noleaks-summary-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        return folder;
    }

    private static int AwaitLine(string marker) => SourceLine.Of(marker, FixtureSource("LeakyWork.cs"));

    private static string FixtureSource(string file, [CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "Shared", file));

    [GeneratedRegex("^NoLeaks warning: (?<test>.+) left \\d+ async operations? behind, first ")]
    private static partial Regex WarnedTestName();

    [GeneratedRegex("^NoLeaks: (?<leaked>\\d+) of (?<checked>[\\d,]+) tests? left async work behind$")]
    private static partial Regex Headline();

    [GeneratedRegex("^\\s+(?<tests>\\d+) tests?\\s+(?<where>\\S+)\\s")]
    private static partial Regex SiteLine();

    [GeneratedRegex("^::(?<level>error|warning) (?:file=(?<file>[^,]*),line=(?<line>\\d+),)?title=(?<title>[^:]*)::(?<message>.*)$")]
    private static partial Regex Annotation();
}
