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
        if (list is ["exec", var program, ..] && OlderRuntimeThanThis(program))
        {
            // A fixture built for an older runtime (the net8.0 builds the .NET 8/9 suites run) runs on the runtime running
            // this process, as the test project of a user on that runtime would: without this, a .NET 9 run would start
            // the net8.0 fixture on .NET 8.
            list.InsertRange(1, ["--fx-version", Environment.Version.ToString()]);
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
    /// True when <paramref name="program"/> asks for Microsoft.NETCore.App alone, of a lower major version than the one
    /// running this process. A program that also asks for ASP.NET Core is left to the host's roll-forward rules.
    /// </summary>
    private static bool OlderRuntimeThanThis(string program)
    {
        var config = Path.ChangeExtension(program, ".runtimeconfig.json");
        if (!File.Exists(config))
        {
            return false;
        }

        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(config));
        return json.RootElement.TryGetProperty("runtimeOptions", out var options)
            && options.TryGetProperty("framework", out var framework)
            && framework.TryGetProperty("name", out var name) && name.GetString() == "Microsoft.NETCore.App"
            && framework.TryGetProperty("version", out var version) && Version.TryParse(version.GetString(), out var wanted)
            && wanted.Major < Environment.Version.Major;
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
