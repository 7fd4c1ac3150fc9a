namespace NoLeaks.Sdk;

/// <summary>
/// What a framework adapter decides for one test from the attributes found at each level: check it (with which
/// options) or not. The closest level wins: method over class over assembly; an opt-out at a level closer than
/// (or at the same level as) the nearest <c>[NoTaskLeaks]</c> turns the check off.
/// </summary>
public sealed class LeakCheckPlan
{
    private LeakCheckPlan(NoLeaksOptions? options, string? optOutReason)
    {
        Options = options;
        OptOutReason = optOutReason;
    }

    /// <summary>The options to check the test with; null when the test is not checked.</summary>
    public NoLeaksOptions? Options { get; }

    /// <summary>Why the test is not checked, when an opt-out attribute says so.</summary>
    public string? OptOutReason { get; }

    /// <summary>True when the test must be checked.</summary>
    public bool IsChecked => Options is not null;

    /// <summary>
    /// Decides for one test. Each level lists the attributes found there (null or empty for none):
    /// settings attributes and opt-out attributes.
    /// </summary>
    public static LeakCheckPlan For(
        IEnumerable<object>? methodLevel, IEnumerable<object>? classLevel, IEnumerable<object>? assemblyLevel)
    {
        foreach (var level in new[] { methodLevel, classLevel, assemblyLevel })
        {
            var attributes = level?.ToList() ?? [];
            if (attributes.OfType<ILeakCheckOptOut>().FirstOrDefault() is { } optOut)
            {
                return new LeakCheckPlan(null, string.IsNullOrWhiteSpace(optOut.Reason) ? "(no reason given)" : optOut.Reason);
            }

            if (attributes.OfType<ILeakCheckSettings>().FirstOrDefault() is { } settings)
            {
                return new LeakCheckPlan(ToOptions(settings), null);
            }
        }

        return new LeakCheckPlan(null, null);
    }

    /// <summary>The options a settings attribute stands for.</summary>
    public static NoLeaksOptions ToOptions(ILeakCheckSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var options = new NoLeaksOptions
        {
            Action = settings.Action,
            CaptureCreationStacks = settings.CaptureCreationStacks,
        };
        if (settings.GracePeriodMilliseconds >= 0)
        {
            options.GracePeriod = TimeSpan.FromMilliseconds(settings.GracePeriodMilliseconds);
        }

        foreach (var pattern in settings.IgnoreAsyncMethods ?? [])
        {
            if (!string.IsNullOrWhiteSpace(pattern))
            {
                options.Ignore.Add(Ignore.AsyncMethod(pattern));
            }
        }

        return options;
    }
}
