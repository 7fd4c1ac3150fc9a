namespace NoLeaks.Sdk;

/// <summary>The settings a <c>[NoTaskLeaks]</c> attribute carries, in every framework adapter.</summary>
public interface ILeakCheckSettings
{
    /// <summary>The grace period in milliseconds; -1 (unset) means the suite's default (1 s unless a suite configuration says otherwise).</summary>
    int GracePeriodMilliseconds { get; }

    /// <summary>Patterns as in <see cref="Ignore.AsyncMethod"/>; null or empty for none.</summary>
    string[]? IgnoreAsyncMethods { get; }

    /// <summary>What a leak does.</summary>
    LeakAction Action { get; }

    /// <summary>Whether creation stacks are captured.</summary>
    bool CaptureCreationStacks { get; }

    /// <summary>
    /// <see cref="Action"/> when the attribute sets it, or null to leave it to the suite's configuration. Without an
    /// implementation, <see cref="LeakAction.Fail"/> (the attribute's default) counts as not set.
    /// </summary>
    LeakAction? ActionIfSet => Action == LeakAction.Fail ? null : Action;

    /// <summary>
    /// <see cref="CaptureCreationStacks"/> when the attribute sets it, or null to leave it to the suite's configuration.
    /// Without an implementation, false (the attribute's default) counts as not set.
    /// </summary>
    bool? CaptureCreationStacksIfSet => CaptureCreationStacks ? true : null;
}

/// <summary>The setting an <c>[AllowTaskLeaks("reason")]</c> attribute carries.</summary>
public interface ILeakCheckOptOut
{
    /// <summary>Why the test may leak.</summary>
    string Reason { get; }
}
