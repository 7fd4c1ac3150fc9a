using System.Text.Json.Serialization;

namespace NoLeaks.Reporting;

/// <summary>
/// The leaks of a whole run (one test process, or several merged), as written to <c>NOLEAKS_REPORT</c>.
/// The JSON form is documented in docs/report-format.md; <see cref="Version"/> changes when a field changes meaning.
/// </summary>
internal sealed record RunReport
{
    /// <summary>The version of the JSON format this code writes.</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>The test processes the report covers.</summary>
    public List<ProcessRun> Runs { get; init; } = [];

    /// <summary>Every test that left work behind: one entry per test and distinct stack.</summary>
    public List<LeakEntry> Leaks { get; init; } = [];

    [JsonIgnore]
    public int TestsChecked => Runs.Sum(run => run.TestsChecked);

    [JsonIgnore]
    public int TestsUnchecked => Runs.Sum(run => run.Unchecked?.Sum(group => group.Tests) ?? 0);

    [JsonIgnore]
    public int TestsWithLeaks => Leaks.Select(leak => leak.Test).Distinct(StringComparer.Ordinal).Count();

    /// <summary>The await sites of the run, most tests first: the goroutine-profile view.</summary>
    public IReadOnlyList<SiteGroup> BySite() =>
        Leaks.GroupBy(leak => leak.SiteKey, StringComparer.Ordinal)
            .Select(group => new SiteGroup(
                group.First(),
                group.Select(leak => leak.Test).Distinct(StringComparer.Ordinal).ToList(),
                group.Sum(leak => leak.Count),
                group.Any(leak => leak.Action == "fail")))
            .OrderByDescending(site => site.Tests.Count)
            .ThenBy(site => site.First.File ?? "\uffff", StringComparer.Ordinal).ThenBy(site => site.First.Line).ThenBy(site => site.First.Method, StringComparer.Ordinal)
            .ToList();

    /// <summary>Reports of several processes as one.</summary>
    public static RunReport Merge(IEnumerable<RunReport> reports)
    {
        var all = reports.ToList();
        return new RunReport
        {
            Runs = all.SelectMany(report => report.Runs).ToList(),
            Leaks = all.SelectMany(report => report.Leaks).ToList(),
        };
    }
}

/// <summary>One test process: which assembly, how many tests it checked.</summary>
internal sealed record ProcessRun(string Assembly, int TestsChecked, string StartedAt, int ProcessId)
{
    /// <summary>Tests whose attributes asked for a check that a runner of another library ran without one; null for none.</summary>
    public List<UncheckedTests>? Unchecked { get; init; }
}

/// <summary>Tests one runner ran without a leak check, and what that runner skips.</summary>
internal sealed record UncheckedTests(string Runner, int Tests, string Why);

/// <summary>One distinct stack a test left behind.</summary>
internal sealed record LeakEntry
{
    public required string Test { get; init; }

    /// <summary><c>fail</c> or <c>warn</c>: what the leak did to the test.</summary>
    public required string Action { get; init; }

    /// <summary>A <see cref="LeakKind"/> name.</summary>
    public required string Kind { get; init; }

    public required string Method { get; init; }

    public required string MethodFullName { get; init; }

    /// <summary>The await site (or where a delegate is defined): repository-relative where the repository is known.</summary>
    public string? File { get; init; }

    /// <summary>The line of <see cref="File"/>; 0 when unknown.</summary>
    public int Line { get; init; }

    public required string WaitingOn { get; init; }

    public required string CreatedBy { get; init; }

    /// <summary>The fixture that held the work past the test (and whose cleanup did not stop it); null for a test's own leak.</summary>
    public string? HeldBy { get; init; }

    /// <summary>The hosted service the work runs in, as the text report's <c>runs in</c> line says it; null outside one.</summary>
    public string? HostedService { get; init; }

    /// <summary>How many operations share this stack.</summary>
    public int Count { get; init; } = 1;

    /// <summary>The methods awaiting (or continuing) the leaked one, innermost first.</summary>
    public List<ChainFrame> Chain { get; init; } = [];

    /// <summary><c>path:line</c>, or "(no source line)" when the site is not known (no PDB).</summary>
    [JsonIgnore]
    public string Where => File is null ? "(no source line)" : $"{File}:{Line}";

    [JsonIgnore]
    internal string SiteKey => File is null ? "method " + MethodFullName : $"{File}:{Line}";
}

/// <summary>One method of a leak's chain above the leaked one.</summary>
internal sealed record ChainFrame(string Method, string? File, int Line, bool Continuation);

/// <summary>An await site of a run and the tests that left work there.</summary>
internal sealed record SiteGroup(LeakEntry First, IReadOnlyList<string> Tests, int Operations, bool AnyFailed)
{
    public string Where => First.Where;
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RunReport))]
internal sealed partial class RunReportJson : JsonSerializerContext;
