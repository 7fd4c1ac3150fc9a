using System.Diagnostics;

namespace NoLeaks.Tracking;

/// <summary>What the creation hook learnt about one async operation when it was created.</summary>
internal sealed class OperationRecord(int taskId, LeakScope scope, long createdTicks, int? creatorTaskId, StackTrace? creationStack)
{
    public int TaskId { get; } = taskId;

    /// <summary>The scope that owns the operation: the one current where it was created.</summary>
    public LeakScope Scope { get; set; } = scope;

    /// <summary>
    /// When it was created, in <see cref="Environment.TickCount64"/> milliseconds: the creation hook runs for every task
    /// of the process inside the runtime's lock, where <see cref="Stopwatch.GetTimestamp"/> (a precise clock read) cost
    /// about 7 % of an async operation's time with NoLeaks on this project's machine; the coarse clock is enough for the
    /// ages a report gives and for telling young records from old.
    /// </summary>
    public long CreatedTicks { get; } = createdTicks;

    /// <summary><see cref="CreatedTicks"/> as a <see cref="Stopwatch"/> timestamp, for reports.</summary>
    public long CreatedTimestamp =>
        Stopwatch.GetTimestamp() - ((Environment.TickCount64 - CreatedTicks) * Stopwatch.Frequency / 1000);

    /// <summary>The delegate task that was running on the creating thread, if any.</summary>
    public int? CreatorTaskId { get; } = creatorTaskId;

    public StackTrace? CreationStack { get; } = creationStack;

    /// <summary>For work handed to a long-lived owner when its test ended: the test that created it.</summary>
    public string? CreatedInTest { get; init; }
}
