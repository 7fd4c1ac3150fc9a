using System.Globalization;
using System.Runtime.CompilerServices;

namespace NoLeaks;

/// <summary>How a <see cref="LeakScope"/> decides that work was leaked, and what it does about it.</summary>
public sealed class NoLeaksOptions
{
    /// <summary>The environment variable that overrides <see cref="Action"/>: <c>fail</c>, <c>warn</c> or <c>off</c>.</summary>
    public const string ActionEnvironmentVariable = "NOLEAKS_ACTION";

    /// <summary>The environment variable that overrides <see cref="FailOnCheckError"/>: <c>1</c> (or <c>true</c>) or <c>0</c> (or <c>false</c>).</summary>
    public const string StrictEnvironmentVariable = "NOLEAKS_STRICT";

    /// <summary>The options used when none are given.</summary>
    public static NoLeaksOptions Default { get; } = new();

    /// <summary>The longest grace period a scope waits: a longer one is cut to this, with a warning in the report.</summary>
    public static TimeSpan MaxGracePeriod { get; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a scope waits, after it ends, for its pending work to finish. Default: 1 s; at most
    /// <see cref="MaxGracePeriod"/>.
    /// </summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Filters for work that is allowed to outlive the scope. Default: none.</summary>
    public IList<LeakFilter> Ignore { get; set; } = new List<LeakFilter>();

    /// <summary>Whether the built-in filters for runtime and test-framework internals apply. Default: true.</summary>
    public bool UseDefaultFilters { get; set; } = true;

    /// <summary>What a leak does: fail the test, warn, or nothing. Default: <see cref="LeakAction.Fail"/>. <c>NOLEAKS_ACTION</c> overrides it.</summary>
    public LeakAction Action { get; set; } = LeakAction.Fail;

    /// <summary>
    /// Records a stack trace where each async operation is created (about 20 µs per async operation). Default: false.
    /// Acts when given to <see cref="LeakScope.Begin(string, NoLeaksOptions?)"/>.
    /// </summary>
    public bool CaptureCreationStacks { get; set; }

    /// <summary>
    /// Whether a check that could not be made (the engine failed, or this runtime cannot be inspected) fails the test
    /// like a leak, when the action is <see cref="LeakAction.Fail"/>. Default: false, a warning in the test's output.
    /// <c>NOLEAKS_STRICT=1</c> overrides it.
    /// </summary>
    public bool FailOnCheckError { get; set; }

    /// <summary><see cref="FailOnCheckError"/> unless <c>NOLEAKS_STRICT</c> says otherwise (read once per process).</summary>
    public bool EffectiveFailOnCheckError => StrictFromEnvironment() ?? FailOnCheckError;

    /// <summary>Where pending work is looked for. Default: <see cref="LeakSource.Auto"/>. Acts when given to <see cref="LeakScope.Begin(string, NoLeaksOptions?)"/>.</summary>
    public LeakSource Source { get; set; } = LeakSource.Auto;

    /// <summary>
    /// How long, per report, the heap may be searched for what keeps each leak alive and whether it can ever resume
    /// (<see cref="TaskLeak.RetentionPath"/>, <see cref="TaskLeak.Verdict"/>). Only reports with leaks pay it; a test
    /// that leaves nothing behind never reads the heap. Default: <see cref="DefaultRetentionBudget"/> (1 s on Linux with
    /// .NET 10 or later; off elsewhere). <see cref="TimeSpan.Zero"/> switches it off; <c>NOLEAKS_RETENTION_BUDGET_MS</c> overrides it
    /// (<c>0</c>: off).
    /// </summary>
    public TimeSpan RetentionBudget { get; set; } = DefaultRetentionBudget;

    /// <summary>
    /// The default of <see cref="RetentionBudget"/>: 1 s on Linux with .NET 10 or later; zero (off) on .NET 8 and 9,
    /// whose data access library can end the process when it is asked about an object a garbage collection moved while
    /// the search lists the GC handles, and on other systems, where the search is not tested (docs/heap.md).
    /// </summary>
    public static TimeSpan DefaultRetentionBudget { get; } =
        OperatingSystem.IsLinux() && Environment.Version.Major >= 10 ? TimeSpan.FromSeconds(1) : TimeSpan.Zero;

    /// <summary>
    /// <see cref="RetentionBudget"/> unless <c>NOLEAKS_RETENTION_BUDGET_MS</c> says otherwise (read once per process); at
    /// most what a test's time limit leaves for the search.
    /// </summary>
    public TimeSpan EffectiveRetentionBudget
    {
        get
        {
            var budget = RetentionBudgetFromEnvironment() ?? RetentionBudget;
            return RetentionBudgetLimit is { } limit && limit < budget ? limit : budget;
        }
    }

    /// <summary>The longest search a test's time limit leaves room for (see <c>LeakCheckPlan.WithinTimeLimit</c>); null: no limit.</summary>
    internal TimeSpan? RetentionBudgetLimit { get; set; }

    /// <summary>
    /// Whether a <c>ContinueWith</c> continuation that has not started, on an antecedent nothing the test left running
    /// will complete (a tripwire such as <c>tcs.Task.ContinueWith(_ =&gt; throw …)</c>), counts as a leak. Default:
    /// false — it runs no code and holds only memory, so the report lists it apart (<see cref="LeakReport.DormantContinuations"/>)
    /// and the test passes. The same holds for a task queued to a <c>TaskScheduler</c> that nothing can reach any more
    /// (<see cref="LeakKind.DormantTask"/>).
    /// </summary>
    public bool CountDormantContinuations { get; set; }

    /// <summary>
    /// Name what running work is doing from its thread's stack (the call it is blocked in and its line), read by a child
    /// process on Linux, which stops one thread of the test process at a time while it reads that thread's stack, once
    /// per report that lists running work. Default (null): read, unless a read failed before in the process (said once);
    /// true: always; false: never. The environment variable <c>NOLEAKS_THREAD_STACKS=1</c> (or <c>0</c>) overrides it
    /// for a whole run.
    /// </summary>
    public bool? ReadThreadStacks { get; set; }

    /// <summary>
    /// Record the line that built each Microsoft.Extensions.DependencyInjection <c>ServiceProvider</c>, so that a report of
    /// work left running by a singleton of a provider never disposed names that line. Off by default: every provider built
    /// from the first scope with it on pays one stack capture and the event text DI then writes (tens of microseconds).
    /// Without it the singleton and its provider are still named. <c>NOLEAKS_SERVICE_PROVIDER_LINES=1</c> (or <c>0</c>)
    /// overrides it for a whole run.
    /// </summary>
    public bool CaptureServiceProviderLines { get; set; }

    /// <summary>
    /// When a test leaves work behind, first let one full garbage collection decide whether anything in the process
    /// can still reach it: work that nothing can reach can never resume, and the test fails at once instead of after
    /// its grace period. Default: true (tracking source only). <c>NOLEAKS_STUCK_CHECK=0</c> switches it off for a run.
    /// </summary>
    public bool DetectStuckWork { get; set; } = true;

    /// <summary>
    /// The shortest grace period worth a full collection: under it, the stuck check is skipped (tests of the check set
    /// it lower).
    /// </summary>
    internal TimeSpan StuckCheckMinimumGrace { get; init; } = StuckCheckDefaultMinimumGrace;

    /// <summary>
    /// How far ahead of the real clock the check reads system timers' due moments (tests of late timers set it: a timer
    /// then looks due before it fires, as on a machine too busy to fire it on time).
    /// </summary>
    internal TimeSpan TimerClockAhead { get; init; }

    /// <summary>The default of <see cref="StuckCheckMinimumGrace"/>: a full collection of a large heap takes tens of milliseconds.</summary>
    internal static readonly TimeSpan StuckCheckDefaultMinimumGrace = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The action in force: <see cref="Action"/> unless <c>NOLEAKS_ACTION</c> names another. The variable is read
    /// once per process, when the first check needs it.
    /// </summary>
    public LeakAction EffectiveAction => ActionFromEnvironment() ?? Action;

    /// <summary>A copy of these options that can be changed without touching the original.</summary>
    public NoLeaksOptions Clone() => new()
    {
        GracePeriod = GracePeriod,
        Ignore = new List<LeakFilter>(Ignore),
        UseDefaultFilters = UseDefaultFilters,
        Action = Action,
        CaptureCreationStacks = CaptureCreationStacks,
        Source = Source,
        RetentionBudget = RetentionBudget,
        RetentionBudgetLimit = RetentionBudgetLimit,
        FailOnCheckError = FailOnCheckError,
        CountDormantContinuations = CountDormantContinuations,
        SettingWarnings = SettingWarnings,
        StackReaderPath = StackReaderPath,
        ReadThreadStacks = ReadThreadStacks,
        CaptureServiceProviderLines = CaptureServiceProviderLines,
        DetectStuckWork = DetectStuckWork,
        StuckCheckMinimumGrace = StuckCheckMinimumGrace,
        TimerClockAhead = TimerClockAhead,
    };

    /// <summary>What was wrong with the settings these options were made from; every report made with them says it.</summary>
    internal IReadOnlyList<string> SettingWarnings { get; set; } = [];

    /// <summary>
    /// The stack reader to start instead of the NoLeaks.Stacks.dll beside NoLeaks.dll (tests of its failure).
    /// </summary>
    internal string? StackReaderPath { get; init; }

    /// <summary>
    /// These options, or a copy whose grace period is cut to a range a scope can wait: not negative, at most
    /// <see cref="MaxGracePeriod"/>. What was cut is added to <see cref="SettingWarnings"/>.
    /// </summary>
    internal NoLeaksOptions WithGracePeriodInRange()
    {
        string warning;
        TimeSpan gracePeriod;
        if (GracePeriod > MaxGracePeriod)
        {
            (gracePeriod, warning) = (MaxGracePeriod, string.Create(CultureInfo.InvariantCulture, $"the grace period of {GracePeriod.TotalSeconds:0.###} s is longer than the longest allowed ({MaxGracePeriod.TotalSeconds:0} s); {MaxGracePeriod.TotalSeconds:0} s was used."));
        }
        else if (GracePeriod < TimeSpan.Zero)
        {
            (gracePeriod, warning) = (TimeSpan.Zero, string.Create(CultureInfo.InvariantCulture, $"the grace period of {GracePeriod.TotalSeconds:0.###} s is negative; no grace period was used."));
        }
        else
        {
            return this;
        }

        var copy = Clone();
        copy.GracePeriod = gracePeriod;
        copy.SettingWarnings = [.. SettingWarnings, warning];
        return copy;
    }

    /// <summary>
    /// <c>NOLEAKS_ACTION</c> as the process started with it: read once (every test would otherwise read the
    /// environment twice), like the runtime's own <c>DOTNET_</c> settings.
    /// </summary>
    internal static string? RawActionFromEnvironment
    {
        get
        {
            var read = s_environmentAction;
            if (read is null)
            {
                read = new StrongBox<string?>(Environment.GetEnvironmentVariable(ActionEnvironmentVariable));
                s_environmentAction = read;
            }

            return read.Value;
        }
    }

    private static StrongBox<string?>? s_environmentAction;

    /// <summary><c>NOLEAKS_STRICT</c> as the process started with it, read once.</summary>
    internal static string? RawStrictFromEnvironment
    {
        get
        {
            var read = s_environmentStrict;
            if (read is null)
            {
                read = new StrongBox<string?>(Environment.GetEnvironmentVariable(StrictEnvironmentVariable));
                s_environmentStrict = read;
            }

            return read.Value;
        }
    }

    private static StrongBox<string?>? s_environmentStrict;

    /// <summary>The environment variable that sets <see cref="RetentionBudget"/> for a run, in milliseconds.</summary>
    internal const string RetentionBudgetEnvironmentVariable = "NOLEAKS_RETENTION_BUDGET_MS";

    private static StrongBox<string?>? s_environmentRetention;

    /// <summary><c>NOLEAKS_RETENTION_BUDGET_MS</c> as the process started with it, read once.</summary>
    internal static string? RawRetentionBudgetFromEnvironment =>
        (s_environmentRetention ??= new StrongBox<string?>(Environment.GetEnvironmentVariable(RetentionBudgetEnvironmentVariable))).Value;

    /// <summary><c>NOLEAKS_RETENTION_BUDGET_MS</c> as a budget, or null when it is not set or not a whole number of milliseconds.</summary>
    internal static TimeSpan? RetentionBudgetFromEnvironment() =>
        int.TryParse(RawRetentionBudgetFromEnvironment?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds)
            ? TimeSpan.FromMilliseconds(milliseconds)
            : null;

    /// <summary>Reads <c>NOLEAKS_ACTION</c>, <c>NOLEAKS_STRICT</c> and <c>NOLEAKS_RETENTION_BUDGET_MS</c> again on next use (tests that change them).</summary>
    internal static void RereadEnvironment()
    {
        s_environmentAction = null;
        s_environmentStrict = null;
        s_environmentRetention = null;
    }

    internal static bool? StrictFromEnvironment() => RawStrictFromEnvironment?.Trim().ToLowerInvariant() switch
    {
        "1" or "true" => true,
        "0" or "false" => false,
        _ => null,
    };

    internal static LeakAction? ActionFromEnvironment() => RawActionFromEnvironment?.Trim().ToLowerInvariant() switch
    {
        "fail" => LeakAction.Fail,
        "warn" => LeakAction.Warn,
        "off" => LeakAction.Off,
        _ => null,
    };
}
