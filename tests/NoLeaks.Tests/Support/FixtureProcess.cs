using System.Diagnostics;
using System.Reflection;

namespace NoLeaks.Tests.Support;

/// <summary>
/// Runs a fixture program (tests/Fixtures) as a child process on the host running this process, with
/// <c>NOLEAKS_ACTION</c> set for the child only; linked into the adapter test projects.
/// </summary>
internal static class FixtureProcess
{
    // NoLeaksOptions.ActionEnvironmentVariable; spelled out, as not every project linking this file references the core.
    private const string ActionVariable = "NOLEAKS_ACTION";

    // RunningWork.EnvironmentVariable, spelled out for the same reason.
    private const string ThreadStacksVariable = "NOLEAKS_THREAD_STACKS";

    /// <summary>NoLeaksOptions.RetentionBudgetEnvironmentVariable, spelled out for the same reason.</summary>
    public const string RetentionBudgetVariable = "NOLEAKS_RETENTION_BUDGET_MS";

    /// <summary>The path of a fixture program the calling test project references (see tests/Fixtures/FixturePrograms.targets).</summary>
    public static string PathOf(Assembly testAssembly, string fixture) =>
        testAssembly.GetCustomAttributes<AssemblyMetadataAttribute>().SingleOrDefault(a => a.Key == "Fixture:" + fixture)?.Value
        ?? throw new InvalidOperationException($"the test project does not reference the fixture {fixture}");

    // What makes a test process write its run summary elsewhere: the outer run (in CI) may carry them, and a fixture's
    // deliberate leaks must not land in the outer job's summary or annotations.
    private static readonly string[] ReportVariables = ["NOLEAKS_REPORT", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"];

    /// <summary>
    /// The search's budget, in milliseconds, for a test that checks what the search reports through an adapter: long
    /// enough that a loaded machine (CI runs suites side by side) cannot cut it short. The default budget (1 s) is in
    /// force when the variable is unset, which tests that check the default's own behaviour ask for with "".
    /// </summary>
    public const string AmpleSearchBudget = "20000";

    /// <summary>
    /// Asserts that a fixture's report names <paramref name="staticName"/> as what holds its leak, with the verdict. The
    /// net8.0 build run on .NET 9 does not find .NET 9's static fields (docs/heap.md): there the path must begin at the GC
    /// handle that roots the statics instead.
    /// </summary>
    public static void AssertHeldByStatic(string? message, string staticName)
    {
#if NET10_0_OR_GREATER
        var root = $"static {staticName}";
#else
        var root = Environment.Version.Major >= 9 ? "a strong GC handle → TaskCompletionSource" : $"static {staticName}";
#endif
        foreach (var expected in (string[])[$"held by     {root} → ._task Task → ", $"verdict     still reachable from {root} → ._task Task"])
        {
            Assert.True(message?.Contains(expected, StringComparison.Ordinal) == true, $"the report does not say \"{expected}\":\n{message}");
        }
    }

    /// <summary>
    /// Runs <c>dotnet</c> with the arguments; kills the child (and throws) after two minutes. The child gets
    /// <paramref name="environment"/> and none of the outer run's report variables.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(
        string fixture, IEnumerable<string> arguments, string? action, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        var list = arguments.ToList();
        var runtimeConfig = list is ["exec", var program, ..] ? OnThisRuntime(program) : null;
        if (runtimeConfig is not null)
        {
            // A fixture built for an older runtime (the net8.0 builds the .NET 8/9 suites run) runs on the runtime running
            // this process, as the test project of a user on that runtime would: without this, a .NET 9 run would start
            // the net8.0 fixture on .NET 8.
            list.InsertRange(1, ["--runtimeconfig", runtimeConfig]);
        }

        foreach (var argument in list)
        {
            start.ArgumentList.Add(argument);
        }

        // The setting is for the child only; the outer run may carry one of its own.
        start.Environment.Remove(ActionVariable);
        if (action is not null)
        {
            start.Environment[ActionVariable] = action;
        }

        foreach (var variable in ReportVariables)
        {
            start.Environment.Remove(variable);
        }

        // Unasked, a fixture reads the thread stack of every running delegate it reports, a child process's start each:
        // off unless the test asks ("1", or "" for that default), so that a fixture's run costs what its tests need.
        start.Environment[ThreadStacksVariable] = "0";

        // Likewise the search of the heap for what holds each leak (on by default on Linux with .NET 10+): every report
        // with a leak pays it, a child process's start included, and a fixture run's reports are many (the adapter suites
        // took three times as long with it). Off unless the test asks ("" for the default); the search has its own tests.
        start.Environment[RetentionBudgetVariable] = "0";

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        try
        {
            return await RunAsync(fixture, start);
        }
        finally
        {
            if (runtimeConfig is not null)
            {
                File.Delete(runtimeConfig);
            }
        }
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string fixture, ProcessStartInfo start)
    {
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
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

        return (process.ExitCode, await output, await error);
    }

    /// <summary>
    /// When <paramref name="program"/> was built for an older runtime than the one running this process, and the host
    /// running this process has each of its frameworks in this runtime's version (ASP.NET Core's too): a temporary copy of
    /// its runtimeconfig.json that asks for those, else null (the program is left to the host's roll-forward rules).
    /// </summary>
    private static string? OnThisRuntime(string program)
    {
        var config = Path.ChangeExtension(program, ".runtimeconfig.json");
        if (!File.Exists(config) || System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(config)) is not { } json
            || json["runtimeOptions"] is not System.Text.Json.Nodes.JsonObject options)
        {
            return null;
        }

        var frameworks = options["frameworks"] is System.Text.Json.Nodes.JsonArray list
            ? list.OfType<System.Text.Json.Nodes.JsonObject>().ToList()
            : options["framework"] is System.Text.Json.Nodes.JsonObject one ? [one] : [];
        var version = Environment.Version.ToString();
        var shared = Path.Combine(Path.GetDirectoryName(DotnetHost) is { Length: > 0 } root ? root : ".", "shared");
        var older = frameworks.Any(f => (string?)f["name"] == "Microsoft.NETCore.App"
            && Version.TryParse((string?)f["version"], out var wanted) && wanted.Major < Environment.Version.Major);
        if (!older || !frameworks.All(f => Directory.Exists(Path.Combine(shared, (string?)f["name"] ?? "", version))))
        {
            return null;
        }

        foreach (var framework in frameworks)
        {
            framework["version"] = version;
        }

        var copy = Path.Combine(Path.GetTempPath(), $"noleaks-fixture-{Guid.NewGuid():N}.runtimeconfig.json");
        File.WriteAllText(copy, json.ToJsonString());
        return copy;
    }

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
