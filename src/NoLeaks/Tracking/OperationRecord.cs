using System.Diagnostics;

namespace NoLeaks.Tracking;

/// <summary>What the creation hook learnt about one async operation when it was created.</summary>
internal sealed class OperationRecord(int taskId, LeakScope scope, long createdTimestamp, int? creatorTaskId, StackTrace? creationStack)
{
    public int TaskId { get; } = taskId;

    /// <summary>The scope that owns the operation: the one current where it was created.</summary>
    public LeakScope Scope { get; set; } = scope;

    public long CreatedTimestamp { get; } = createdTimestamp;

    /// <summary>The delegate task that was running on the creating thread, if any.</summary>
    public int? CreatorTaskId { get; } = creatorTaskId;

    public StackTrace? CreationStack { get; } = creationStack;

    /// <summary>For work handed to a long-lived owner when its test ended: the test that created it.</summary>
    public string? CreatedInTest { get; init; }
}
