using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using System.Xml.Linq;
using NoLeaks.Tests.Support;

namespace NoLeaks.Xunit.Tests.Support;

/// <summary>One test's result in a fixture run: outcome, failure message, output and (xunit v3) warnings.</summary>
public sealed record FixtureTest(string Name, string Outcome, string Message, string Output, IReadOnlyList<string> Warnings)
{
    /// <summary>The failure's stack trace(s), empty when there are none.</summary>
    public string StackTrace { get; init; } = "";
}

/// <summary>The results of running a fixture program (tests/Fixtures) in its own process.</summary>
public sealed class FixtureRun
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<FixtureRun>>> Runs = new();

    private FixtureRun(IReadOnlyList<FixtureTest> tests, IReadOnlyList<string> errors, string console)
    {
        Tests = tests;
        Errors = errors;
        Console = console;
    }

    /// <summary>Failures outside any test (a class's or collection's cleanup), as "kind: message".</summary>
    public IReadOnlyList<string> Errors { get; }

    public IReadOnlyList<FixtureTest> Tests { get; }

    public string Console { get; }

    public IEnumerable<string> Failed => Tests.Where(t => t.Outcome == "Failed").Select(t => ShortName(t.Name)).Order();

    /// <summary>The test named <c>Class.Method</c> or <c>Class.Method(args)</c>.</summary>
    public FixtureTest this[string shortName] =>
        Tests.SingleOrDefault(t => ShortName(t.Name) == shortName)
        ?? throw new InvalidOperationException($"no test {shortName} in:\n{string.Join('\n', Tests.Select(t => t.Name))}\n{Console}");

    /// <summary>Runs a fixture once per test process (results are shared); <paramref name="action"/> sets NOLEAKS_ACTION.</summary>
    public static Task<FixtureRun> Of(string fixture, string? action = null) =>
        Runs.GetOrAdd($"{fixture}|{action}", _ => new(() => RunAsync(fixture, action))).Value;

    private static string ShortName(string name) =>
        name.StartsWith("NoLeaks.Fixtures.", StringComparison.Ordinal) ? name["NoLeaks.Fixtures.".Length..] : name;

    private static async Task<FixtureRun> RunAsync(string fixture, string? action)
    {
        var path = FixtureProcess.PathOf(typeof(FixtureRun).Assembly, fixture);
        var results = Path.Combine(Path.GetTempPath(), $"noleaks-{fixture}-{Guid.NewGuid():N}");
        var isV3 = fixture.StartsWith("XunitV3", StringComparison.Ordinal);
        string[] arguments = isV3
            ? ["exec", path, "-noLogo", "-noColor", "-noAutoReporters", "-reporter", "quiet", "-result-xml", results]
            : ["exec", path, "--json", results];
        var (exitCode, output, error) = await FixtureProcess.RunAsync(fixture, arguments, action);
        var console = $"exit code {exitCode}\n{output}\n{error}";
        if (!File.Exists(results))
        {
            throw new InvalidOperationException($"{fixture} wrote no results\n{console}");
        }

        try
        {
            if (isV3)
            {
                var xml = XDocument.Load(results);
                return new(FromXml(xml), ErrorsFromXml(xml), console);
            }

            var (tests, errors) = FromJson(File.ReadAllText(results));
            return new(tests, errors, console);
        }
        finally
        {
            File.Delete(results);
        }
    }

    private static List<FixtureTest> FromXml(XDocument results) =>
        results.Descendants("test").Select(test => new FixtureTest(
            (string)test.Attribute("name")!,
            (string)test.Attribute("result")! switch { "Pass" => "Passed", "Fail" => "Failed", "Skip" => "Skipped", var other => other },
            (string?)test.Element("failure")?.Element("message") ?? (string?)test.Element("reason") ?? "",
            (string?)test.Element("output") ?? "",
            test.Element("warnings")?.Elements("warning").Select(warning => (string)warning).ToList() ?? [])
        {
            StackTrace = (string?)test.Element("failure")?.Element("stack-trace") ?? "",
        }).ToList();

    private static List<string> ErrorsFromXml(XDocument results) =>
        results.Descendants("error").Select(error => $"{(string?)error.Attribute("type")}: {(string?)error.Element("failure")?.Element("message")}").ToList();

    private static (List<FixtureTest> Tests, List<string> Errors) FromJson(string results)
    {
        using var document = JsonDocument.Parse(results);
        var errors = document.RootElement.GetProperty("errors").EnumerateArray().Select(e => e.GetString() ?? "").ToList();
        return (document.RootElement.GetProperty("tests").EnumerateArray().Select(test => new FixtureTest(
            test.GetProperty("Name").GetString()!,
            test.GetProperty("Outcome").GetString()!,
            test.GetProperty("Message").GetString() ?? "",
            test.GetProperty("Output").GetString() ?? "",
            [])
        {
            StackTrace = test.TryGetProperty("StackTrace", out var trace) ? trace.GetString() ?? "" : "",
        }).ToList(), errors);
    }

    // The `dotnet` host running this process: <root>/shared/Microsoft.NETCore.App/<version>/System.Private.CoreLib.dll.
}
