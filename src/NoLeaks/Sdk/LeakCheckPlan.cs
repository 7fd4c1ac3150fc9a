using System.Globalization;
using System.Reflection;
using NoLeaks.Policy;

namespace NoLeaks.Sdk;

/// <summary>
/// What a framework adapter decides for one test from the attributes found at each level: check it (with which
/// options) or not. Settings come from the closest <c>[NoTaskLeaks]</c> (method over class over assembly), except
/// <c>IgnoreAsyncMethods</c>, whose patterns add up over every level; an opt-out at a level closer than (or at the
/// same level as) the nearest <c>[NoTaskLeaks]</c> turns the check off. The test assembly's suite configuration
/// (<see cref="NoLeaksConfigurationAttribute"/>) gives the defaults the attributes start from.
/// </summary>
public sealed class LeakCheckPlan
{
    private LeakCheckPlan(NoLeaksOptions? options, string? optOutReason, IReadOnlyList<string> warnings)
    {
        Options = options;
        OptOutReason = optOutReason;
        Warnings = warnings;
    }

    /// <summary>The options to check the test with; null when the test is not checked.</summary>
    public NoLeaksOptions? Options { get; }

    /// <summary>Why the test is not checked, when an opt-out attribute says so.</summary>
    public string? OptOutReason { get; }

    /// <summary>True when the test must be checked.</summary>
    public bool IsChecked => Options is not null;

    /// <summary>
    /// What is wrong with the attributes (an empty pattern, a negative grace period, an opt-out without a reason),
    /// one line each. A checked test's report carries them already; for a test that is not checked, the adapter
    /// writes them to the test's output.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// Decides for one test. Each level lists the attributes found there (null or empty for none):
    /// settings attributes and opt-out attributes.
    /// </summary>
    public static LeakCheckPlan For(
        IEnumerable<object>? methodLevel, IEnumerable<object>? classLevel, IEnumerable<object>? assemblyLevel) =>
        For(methodLevel, classLevel, assemblyLevel, LeakSuite.None);

    /// <summary>
    /// Decides for one test of <paramref name="testAssembly"/>, whose suite configuration (read once per process) gives
    /// the defaults. Each level lists the attributes found there (null or empty for none).
    /// </summary>
    public static LeakCheckPlan For(
        IEnumerable<object>? methodLevel, IEnumerable<object>? classLevel, IEnumerable<object>? assemblyLevel, Assembly? testAssembly) =>
        For(methodLevel, classLevel, assemblyLevel, LeakSuite.Of(testAssembly));

    internal static LeakCheckPlan For(
        IEnumerable<object>? methodLevel, IEnumerable<object>? classLevel, IEnumerable<object>? assemblyLevel, LeakSuite suite)
    {
        var levels = new[] { methodLevel, classLevel, assemblyLevel }.Select(level => level?.ToList() ?? []).ToList();
        for (var closest = 0; closest < levels.Count; closest++)
        {
            if (levels[closest].OfType<ILeakCheckOptOut>().FirstOrDefault() is { } optOut)
            {
                return string.IsNullOrWhiteSpace(optOut.Reason)
                    ? new LeakCheckPlan(null, "(no reason given)", [$"[AllowTaskLeaks] on {LevelName(closest)} gives no reason; say why this work may outlive the test."])
                    : new LeakCheckPlan(null, optOut.Reason, []);
            }

            if (levels[closest].OfType<ILeakCheckSettings>().FirstOrDefault() is { } settings)
            {
                var options = ToOptions(settings, suite);
                var warnings = new List<string>(options.SettingWarnings);

                // Ignore lists add up: an assembly-wide allowance still holds where a class or a test says more.
                for (var farther = closest + 1; farther < levels.Count; farther++)
                {
                    foreach (var more in levels[farther].OfType<ILeakCheckSettings>())
                    {
                        AddIgnored(options, more.IgnoreAsyncMethods, warnings, LevelName(farther));
                    }
                }

                options.SettingWarnings = warnings;
                return new LeakCheckPlan(options, null, warnings);
            }
        }

        return new LeakCheckPlan(null, null, []);
    }

    /// <summary>The options a settings attribute stands for; what is wrong with it is in their report's warnings.</summary>
    public static NoLeaksOptions ToOptions(ILeakCheckSettings settings) => ToOptions(settings, LeakSuite.None);

    /// <summary>The suite's defaults with what a settings attribute sets on top.</summary>
    internal static NoLeaksOptions ToOptions(ILeakCheckSettings settings, LeakSuite suite)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var options = suite.NewOptions();
        var warnings = new List<string>(options.SettingWarnings);
        if (settings.ActionIfSet is { } action)
        {
            if (Enum.IsDefined(action))
            {
                options.Action = action;
            }
            else
            {
                warnings.Add(string.Create(CultureInfo.InvariantCulture, $"[NoTaskLeaks(Action = {(int)action})] is not Fail, Warn or Off; {options.Action} was used."));
            }
        }

        if (settings.CaptureCreationStacksIfSet is { } capture)
        {
            options.CaptureCreationStacks = capture;
        }

        if (settings.GracePeriodMilliseconds >= 0)
        {
            options.GracePeriod = TimeSpan.FromMilliseconds(settings.GracePeriodMilliseconds);
        }
        else if (settings.GracePeriodMilliseconds != DefaultGracePeriodMilliseconds)
        {
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"[NoTaskLeaks(GracePeriodMilliseconds = {settings.GracePeriodMilliseconds})] is negative; the default grace period ({options.GracePeriod.TotalSeconds:0.##} s) was used."));
        }

        AddIgnored(options, settings.IgnoreAsyncMethods, warnings, null);
        options.SettingWarnings = warnings;
        return options;
    }

    /// <summary>
    /// The options to end a test's scope with when the test has a time limit (xunit's <c>Timeout</c>, NUnit's
    /// <c>CancelAfter</c> or <c>Timeout</c>; zero or negative: none) and began <paramref name="elapsed"/> ago: the
    /// grace period ends before the limit does, a quarter of the limit (at most one second) ahead of it, so that the
    /// check never makes a test overrun its limit (NUnit's <c>Timeout</c> counts the check in). The retention search
    /// runs after the grace period only if what is left after it holds the search's budget and
    /// <see cref="RetentionSearchReserve"/> besides (the read of statics' names, the collection before it); it gets less
    /// of a budget when less is left, and none under <see cref="MinimumRetentionBudget"/>.
    /// </summary>
    public static NoLeaksOptions WithinTimeLimit(NoLeaksOptions options, int timeLimitMilliseconds, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (timeLimitMilliseconds <= 0)
        {
            return options;
        }

        var limit = TimeSpan.FromMilliseconds(timeLimitMilliseconds);
        var margin = TimeSpan.FromTicks(Math.Min(limit.Ticks / 4, TimeSpan.TicksPerSecond));
        var left = limit - margin - elapsed;
        if (left < TimeSpan.Zero)
        {
            left = TimeSpan.Zero;
        }

        var grace = options.GracePeriod <= left ? options.GracePeriod : left;
        var searchRoom = left - grace - RetentionSearchReserve;
        var searchLimit = searchRoom >= MinimumRetentionBudget ? searchRoom : TimeSpan.Zero;
        if (grace == options.GracePeriod && options.EffectiveRetentionBudget <= searchLimit)
        {
            return options;
        }

        var within = options.Clone();
        within.GracePeriod = grace;
        within.RetentionBudgetLimit = within.RetentionBudgetLimit is { } earlier && earlier < searchLimit ? earlier : searchLimit;
        return within;
    }

    /// <summary>What a retention search takes besides its budget: naming statics (a child's read, at most 1 s) and a collection.</summary>
    internal static readonly TimeSpan RetentionSearchReserve = TimeSpan.FromSeconds(1.5);

    /// <summary>The shortest budget a search under a time limit is given; with less room it does not run.</summary>
    internal static readonly TimeSpan MinimumRetentionBudget = TimeSpan.FromMilliseconds(100);

    /// <summary>What <c>GracePeriodMilliseconds</c> holds when it is not set: the default grace period.</summary>
    private const int DefaultGracePeriodMilliseconds = -1;

    private static void AddIgnored(NoLeaksOptions options, string[]? patterns, List<string> warnings, string? level)
    {
        foreach (var pattern in patterns ?? [])
        {
            if (string.IsNullOrWhiteSpace(pattern))
            {
                var where = level is null ? "" : $" on {level}";
                warnings.Add($"[NoTaskLeaks(IgnoreAsyncMethods = …)]{where} holds an empty pattern, which matches nothing; it was left out.");
                continue;
            }

            options.Ignore.Add(Ignore.AsyncMethod(pattern));
        }
    }

    private static string LevelName(int level) => level switch
    {
        0 => "the test method",
        1 => "the test class",
        _ => "the assembly",
    };
}
