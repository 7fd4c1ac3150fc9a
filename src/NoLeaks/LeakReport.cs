using NoLeaks.Reporting;

namespace NoLeaks;

/// <summary>What a scope left behind when it ended.</summary>
public sealed class LeakReport
{
    internal LeakReport(
        string scopeName,
        IReadOnlyList<TaskLeak> leaks,
        IReadOnlyList<string> warnings,
        LeakAction action,
        TimeSpan waited,
        int ignoredCount,
        TimeSpan? gracePeriod = null,
        IReadOnlyList<TaskLeak>? dormantContinuations = null)
    {
        DormantContinuations = dormantContinuations ?? [];
        GracePeriod = gracePeriod ?? waited;
        ScopeName = scopeName;
        Leaks = leaks;
        Warnings = warnings;
        Action = action;
        Waited = waited;
        IgnoredCount = ignoredCount;
    }

    /// <summary>The name of the scope (usually the test).</summary>
    public string ScopeName { get; }

    /// <summary>The leaks, one per distinct logical async stack.</summary>
    public IReadOnlyList<TaskLeak> Leaks { get; }

    /// <summary>
    /// Continuations that have not started and never will unless something completes their antecedent, which nothing
    /// the scope left running will do (<see cref="LeakKind.DormantContinuation"/>), and tasks queued to a scheduler nothing
    /// can reach any more (<see cref="LeakKind.DormantTask"/>). Listed, not counted as leaks, unless
    /// <see cref="NoLeaksOptions.CountDormantContinuations"/> is set (then they are in <see cref="Leaks"/>).
    /// </summary>
    public IReadOnlyList<TaskLeak> DormantContinuations { get; }

    /// <summary>True when nothing was left behind.</summary>
    public bool IsClean => Leaks.Count == 0;

    /// <summary>The number of leaked operations, counting repeats.</summary>
    public int LeakedOperationCount => Leaks.Sum(leak => leak.Count);

    /// <summary>Things the engine could not do (a runtime internal missing, a filter that threw …).</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The action in force when the report was made.</summary>
    public LeakAction Action { get; }

    /// <summary>The grace period the scope was given (what the report names; <see cref="Waited"/> is what it took).</summary>
    public TimeSpan GracePeriod { get; }

    /// <summary>How long the scope waited for its work to finish after it ended.</summary>
    public TimeSpan Waited { get; }

    /// <summary>How many distinct stacks were left behind but allowed by a filter.</summary>
    public int IgnoredCount { get; }

    /// <summary>
    /// Why the scope was not checked (the engine failed, or the runtime cannot be inspected), or null when it was. A
    /// report with a check error lists no leaks, whatever the scope left behind; its warnings say more.
    /// </summary>
    public string? CheckError { get; internal init; }

    /// <summary>Whether a <see cref="CheckError"/> fails the test (<see cref="NoLeaksOptions.FailOnCheckError"/>, <c>NOLEAKS_STRICT</c>).</summary>
    public bool FailsOnCheckError { get; internal init; }

    /// <summary>
    /// True when the report should fail the test: the action is <see cref="LeakAction.Fail"/> and there are leaks, or
    /// the check could not be made and <see cref="FailsOnCheckError"/>.
    /// </summary>
    public bool ShouldFail => Action == LeakAction.Fail && (!IsClean || (CheckError is not null && FailsOnCheckError));

    /// <summary>Throws <see cref="TaskLeakException"/> when <see cref="ShouldFail"/>.</summary>
    public void ThrowIfFailed()
    {
        if (ShouldFail)
        {
            throw new TaskLeakException(this);
        }
    }

    /// <summary>The report a person reads.</summary>
    public override string ToString() => TextReport.Format(this);
}
