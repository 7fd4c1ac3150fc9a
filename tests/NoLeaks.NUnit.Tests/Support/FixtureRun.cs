using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using NoLeaks.Tests.Support;

namespace NoLeaks.NUnit.Tests.Support;

/// <summary>One test's result in a fixture program's run.</summary>
public sealed record FixtureTestResult(string Name, string Outcome, string? Message, string Output, string[] Warnings);

/// <summary>The results of running one NUnit fixture program (tests/Fixtures) in a child process.</summary>
public sealed class FixtureRun(string fixture, IReadOnlyList<FixtureTestResult> tests, string standardError = "")
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<FixtureRun>>> Runs = new();

    /// <summary>The fixture program's name, e.g. <c>NUnit4Fixture</c>.</summary>
    public string Fixture { get; } = fixture;

    /// <summary>What the program wrote to its standard error (NoLeaks' console lines go there).</summary>
    public string StandardError { get; } = standardError;

    /// <summary>Every test the program ran.</summary>
    public IReadOnlyList<FixtureTestResult> Tests { get; } = tests;

    /// <summary>The test named <c>Class.Method</c> (with its arguments, if any).</summary>
    public FixtureTestResult this[string classAndMethod] =>
        Tests.SingleOrDefault(test => test.Name.EndsWith("." + classAndMethod, StringComparison.Ordinal))
        ?? throw new InvalidOperationException($"{Fixture} ran no test {classAndMethod}; it ran: {string.Join(", ", Tests.Select(t => t.Name))}");

    /// <summary>Runs the fixture program once per setting of <c>NOLEAKS_ACTION</c> (null: unset) and caches its results.</summary>
    public static Task<FixtureRun> Of(string fixture, string? action = null) =>
        Runs.GetOrAdd($"{fixture}|{action}", _ => new Lazy<Task<FixtureRun>>(() => RunAsync(fixture, action))).Value;

    /// <summary>
    /// Runs the tests of one class of a fixture program with the heap search on (fixture runs switch it off:
    /// <c>FixtureProcess</c>), once per test process: with the default budget (<paramref name="budget"/> ""), or another
    /// (milliseconds).
    /// </summary>
    public static Task<FixtureRun> WithSearch(string fixture, string className, string budget = "") =>
        Runs.GetOrAdd($"{fixture}|search {budget}|{className}", _ => new Lazy<Task<FixtureRun>>(() => RunAsync(
            fixture, null, new Dictionary<string, string> { [FixtureProcess.RetentionBudgetVariable] = budget }, ["--class", "NoLeaks.NUnit.Fixtures." + className]))).Value;

    /// <summary>The source file of a fixture, relative to tests/Fixtures.</summary>
    public static string SourceOf(string relativePath) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", "..", "Fixtures", relativePath));

    private static Task<FixtureRun> RunAsync(string fixture, string? action) => RunAsync(fixture, action, null, []);

    /// <summary>
    /// Runs a fixture program in a process of its own, not shared with other tests: with <paramref name="environment"/>
    /// added to the child's and <paramref name="extraArguments"/> after its own (<c>--class Namespace.Type</c>).
    /// </summary>
    public static async Task<FixtureRun> RunAsync(
        string fixture, string? action, IReadOnlyDictionary<string, string>? environment, IEnumerable<string> extraArguments)
    {
        var json = Path.Combine(Path.GetTempPath(), $"noleaks-{fixture}-{Guid.NewGuid():N}.json");
        var (exitCode, output, error) = await FixtureProcess.RunAsync(
            fixture, ["exec", FixtureProcess.PathOf(typeof(FixtureRun).Assembly, fixture), "--json", json, .. extraArguments], action, environment);
        if (!File.Exists(json))
        {
            throw new InvalidOperationException($"{fixture} exited with {exitCode} and no results\n{output}\n{error}");
        }

        try
        {
            return new FixtureRun(fixture, JsonSerializer.Deserialize<List<FixtureTestResult>>(await File.ReadAllTextAsync(json))!, error);
        }
        finally
        {
            File.Delete(json);
        }
    }

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
