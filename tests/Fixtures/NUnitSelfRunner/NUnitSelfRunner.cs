using System.Text.Json;
using NUnit.Framework.Api;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>One test's result as the fixture tests read it.</summary>
public sealed record FixtureTestResult(string Name, string Outcome, string? Message, string Output, string[] Warnings);

/// <summary>
/// Runs the NUnit tests of this assembly in-process (the API NUnitLite wraps; NUnitLite itself is not served here)
/// and writes one JSON object per test to the file named by <c>--json</c>; <c>--class</c> runs one fixture only.
/// </summary>
public static class NUnitSelfRunner
{
    /// <summary>Runs the tests; exits with 1 when a test failed.</summary>
    public static int Main(string[] args)
    {
        var jsonIndex = Array.IndexOf(args, "--json");
        var jsonPath = jsonIndex >= 0 && jsonIndex + 1 < args.Length ? args[jsonIndex + 1] : null;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var runner = new NUnitTestAssemblyRunner(new DefaultTestAssemblyBuilder());
        runner.Load(typeof(NUnitSelfRunner).Assembly, new Dictionary<string, object>());
        // --class Namespace.Type runs that fixture's tests only.
        var classIndex = Array.IndexOf(args, "--class");
        TestFilter filter = classIndex >= 0 && classIndex + 1 < args.Length
            ? TestFilter.FromXml($"<filter><class>{System.Security.SecurityElement.Escape(args[classIndex + 1])}</class></filter>")
            : TestFilter.Empty;
        var top = runner.Run(TestListener.NULL, filter);

        var results = new List<FixtureTestResult>();
        Collect(top, results);
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(results));
        }

        var failed = results.Count(result => result.Outcome == "Failed");
        Console.WriteLine($"{results.Count} tests, {failed} failed, {clock.ElapsedMilliseconds} ms");
        return failed > 0 ? 1 : 0;
    }

    private static void Collect(ITestResult result, List<FixtureTestResult> results)
    {
        if (result.Test.IsSuite)
        {
            foreach (var child in result.Children)
            {
                Collect(child, results);
            }

            // A failure of the suite's own teardown (OneTimeTearDown, or what runs after it) is listed as an entry.
            if (result.ResultState.Site == FailureSite.TearDown)
            {
                results.Add(new(result.FullName + " [teardown]", result.ResultState.Status.ToString(), result.Message, result.Output, []));
            }

            return;
        }

        var warnings = result.AssertionResults.Where(a => a.Status == AssertionStatus.Warning).Select(a => a.Message ?? "").ToArray();
        results.Add(new(result.FullName, result.ResultState.Status.ToString(), result.Message, result.Output, warnings));
    }
}
