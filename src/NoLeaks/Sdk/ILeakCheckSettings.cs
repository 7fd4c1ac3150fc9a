namespace NoLeaks.Sdk;

/// <summary>The settings a <c>[NoTaskLeaks]</c> attribute carries, in every framework adapter.</summary>
public interface ILeakCheckSettings
{
    /// <summary>The grace period in milliseconds; -1 (unset) means the default, 1 s.</summary>
    int GracePeriodMilliseconds { get; }

    /// <summary>Patterns as in <see cref="Ignore.AsyncMethod"/>; null or empty for none.</summary>
    string[]? IgnoreAsyncMethods { get; }

    /// <summary>What a leak does.</summary>
    LeakAction Action { get; }

    /// <summary>Whether creation stacks are captured.</summary>
    bool CaptureCreationStacks { get; }
}

/// <summary>The setting an <c>[AllowTaskLeaks("reason")]</c> attribute carries.</summary>
public interface ILeakCheckOptOut
{
    /// <summary>Why the test may leak.</summary>
    string Reason { get; }
}
