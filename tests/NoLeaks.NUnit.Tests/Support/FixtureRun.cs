using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace NoLeaks.NUnit.Tests.Support;

/// <summary>One test's result in a fixture program's run.</summary>
public sealed record FixtureTestResult(string Name, string Outcome, string? Message, string Output, string[] Warnings);

/// <summary>The results of running one NUnit fixture program (tests/Fixtures) in a child process.</summary>
public sealed class FixtureRun(string fixture, IReadOnlyList<FixtureTestResult> tests)
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<FixtureRun>>> Runs = new();

    /// <summary>The fixture program's name, e.g. <c>NUnit4Fixture</c>.</summary>
    public string Fixture { get; } = fixture;

    /// <summary>Every test the program ran.</summary>
    public IReadOnlyList<FixtureTestResult> Tests { get; } = tests;

    /// <summary>The test named <c>Class.Method</c> (with its arguments, if any).</summary>
    public FixtureTestResult this[string classAndMethod] =>
        Tests.SingleOrDefault(test => test.Name.EndsWith("." + classAndMethod, StringComparison.Ordinal))
        ?? throw new InvalidOperationException($"{Fixture} ran no test {classAndMethod}; it ran: {string.Join(", ", Tests.Select(t => t.Name))}");

    /// <summary>Runs the fixture program once per setting of <c>NOLEAKS_ACTION</c> (null: unset) and caches its results.</summary>
    public static Task<FixtureRun> Of(string fixture, string? action = null) =>
        Runs.GetOrAdd($"{fixture}|{action}", _ => new Lazy<Task<FixtureRun>>(() => RunAsync(fixture, action))).Value;

    /// <summary>The source file of a fixture, relative to tests/Fixtures.</summary>
    public static string SourceOf(string relativePath) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", "..", "Fixtures", relativePath));

    private static async Task<FixtureRun> RunAsync(string fixture, string? action)
    {
        var json = Path.Combine(Path.GetTempPath(), $"noleaks-{fixture}-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo(DotnetHost) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "exec", PathOf(fixture), "--json", json })
        {
            start.ArgumentList.Add(argument);
        }

        // The setting is for the child only; the outer run may carry one of its own.
        start.Environment.Remove("NOLEAKS_ACTION");
        if (action is not null)
        {
            start.Environment["NOLEAKS_ACTION"] = action;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fixture} did not finish within two minutes");
        }

        if (!File.Exists(json))
        {
            throw new InvalidOperationException($"{fixture} exited with {process.ExitCode} and no results\n{await stdout}\n{await stderr}");
        }

        try
        {
            return new FixtureRun(fixture, JsonSerializer.Deserialize<List<FixtureTestResult>>(await File.ReadAllTextAsync(json))!);
        }
        finally
        {
            File.Delete(json);
        }
    }

    private static string ThisFile([CallerFilePath] string path = "") => path;

    private static string PathOf(string fixture) =>
        typeof(FixtureRun).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == "Fixture:" + fixture)?.Value
        ?? throw new InvalidOperationException($"the test project does not reference the fixture {fixture}");

    // The host running this process: <root>/shared/Microsoft.NETCore.App/<version>/System.Private.CoreLib.dll.
    private static string DotnetHost
    {
        get
        {
            var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
            var host = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            return File.Exists(host) ? host : "dotnet";
        }
    }
}
