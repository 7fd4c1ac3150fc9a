namespace NoLeaks;

/// <summary>One logical async stack left behind by a scope (identical stacks are counted together).</summary>
public sealed class TaskLeak
{
    internal TaskLeak(
        LeakKind kind,
        AsyncFrame leaked,
        IReadOnlyList<AsyncFrame> awaitedBy,
        string waitingOn,
        string createdBy,
        string? creationStack,
        string scopeName,
        TimeSpan? age,
        int count,
        string? retentionPath = null,
        string? verdict = null)
    {
        RetentionPath = retentionPath;
        Verdict = verdict;
        Kind = kind;
        Leaked = leaked;
        AwaitedBy = awaitedBy;
        WaitingOn = waitingOn;
        CreatedBy = createdBy;
        CreationStack = creationStack;
        ScopeName = scopeName;
        Age = age;
        Count = count;
    }

    /// <summary>What kind of work it is.</summary>
    public LeakKind Kind { get; }

    /// <summary>The innermost pending async method (or the delegate of a delegate task).</summary>
    public AsyncFrame Leaked { get; }

    /// <summary>The innermost method's display name, e.g. <c>OrderQueue.PumpAsync</c>.</summary>
    public string Method => Leaked.Method;

    /// <summary>The innermost method's full name, e.g. <c>Shop.OrderQueue.PumpAsync</c>.</summary>
    public string MethodFullName => Leaked.FullName;

    /// <summary>Where the innermost method is suspended, or null.</summary>
    public AwaitSite? AwaitSite => Leaked.AwaitSite;

    /// <summary>The async methods awaiting the leaked one, innermost first, up to the root.</summary>
    public IReadOnlyList<AsyncFrame> AwaitedBy { get; }

    /// <summary>The whole logical async stack: the leaked method, then those awaiting it.</summary>
    public IEnumerable<AsyncFrame> AwaitChain => AwaitedBy.Prepend(Leaked);

    /// <summary>What the innermost method waits on, named plainly: <c>TaskCompletionSource&lt;int&gt;.Task</c>.</summary>
    public string WaitingOn { get; }

    /// <summary>Who started the work: the test (scope) or the task it was created from.</summary>
    public string CreatedBy { get; }

    /// <summary>The stack trace where the root of the stack was created, when creation stacks are captured.</summary>
    public string? CreationStack { get; }

    /// <summary>The name of the scope (usually the test) that owns the work.</summary>
    public string ScopeName { get; }

    /// <summary>How long ago the work was created, when the report was made; null when the source cannot tell.</summary>
    public TimeSpan? Age { get; }

    /// <summary>
    /// What keeps the work alive, from a GC root to the stack, e.g. <c>static OrderQueue.Instance → Channel&lt;Order&gt; → … →
    /// OrderQueue.PumpAsync</c>; null when the heap was not searched (see <see cref="NoLeaksOptions.RetentionBudget"/>).
    /// </summary>
    public string? RetentionPath { get; }

    /// <summary>
    /// Whether the work can still resume: "nothing on the heap outside its own chain can complete what it awaits (…)"
    /// when no object outside its own await chain can complete
    /// what it awaits, "still reachable from …" otherwise, or why no verdict was reached; null when not searched.
    /// </summary>
    public string? Verdict { get; }

    /// <summary>How many operations share this exact stack.</summary>
    public int Count { get; }

    /// <summary>True when the leaked work was executing code when it was seen (a running delegate or method), not waiting.</summary>
    public bool IsRunning { get; init; }

    /// <summary>
    /// The hosted service (Microsoft.Extensions.Hosting) the work runs in and whether its host was stopped, with the fix,
    /// e.g. "hosted service `OrderPump` (a BackgroundService) is still running: its host was never stopped. …", or the
    /// singleton of a ServiceProvider never disposed that it runs on ("singleton `OrderCache` of a ServiceProvider that was
    /// never disposed …"); null when the work runs in neither, or the source cannot tell (heap snapshots).
    /// </summary>
    public string? HostedService { get; init; }

    /// <summary>A one-line summary.</summary>
    public override string ToString() =>
        $"{(Count > 1 ? $"{Count} x " : "")}{Leaked} waiting on {WaitingOn}";

    // One entry per distinct place in the code: two lambdas of one method share a full name but not a line.
    internal string StackKey =>
        string.Join(" <- ", AwaitChain.Select(f => $"{f.Code ?? f.QualifiedMethod}@{f.AwaitSite?.FilePath}:{f.AwaitSite?.Line}#{f.AwaitSite?.State}"))
        + " | " + Kind + " | " + WaitingOn;

    /// <summary>The test that created the work, for work a test handed to a fixture (then the scope is the fixture's).</summary>
    internal string? CreatedInTest { get; init; }

    /// <summary>The innermost operation and the ones above it in the chain, as the source saw them (first of the stack).</summary>
    internal IReadOnlyList<Analysis.PendingOperation> Operations { get; init; } = [];

    /// <summary>The running operations counted in this entry (running delegate tasks and async methods), by task id and heap address.</summary>
    internal IReadOnlyList<Analysis.RunningTask> RunningTasks { get; init; } = [];

    /// <summary>
    /// For work waiting on a system timer (a finite <c>Task.Delay</c>): the <see cref="System.Diagnostics.Stopwatch"/>
    /// timestamp at which the timer is due, the latest of the entry's operations; null when not known for all of them.
    /// </summary>
    internal long? TimerDue { get; init; }

    /// <summary>This entry with one more operation counted in it.</summary>
    internal TaskLeak WithOneMore(TaskLeak same) =>
        new(Kind, Leaked, AwaitedBy, WaitingOn, CreatedBy, CreationStack, ScopeName, Age, Count + same.Count, RetentionPath, Verdict)
        {
            Operations = Operations, IsRunning = IsRunning, HostedService = HostedService, CreatedInTest = CreatedInTest,
            RunningTasks = [.. RunningTasks, .. same.RunningTasks],
            TimerDue = TimerDue is { } due && same.TimerDue is { } other ? Math.Max(due, other) : null,
        };

    /// <summary>This entry with what it waits on named from its thread, for <paramref name="count"/> of its operations.</summary>
    internal TaskLeak WithWaitingOn(string waitingOn, int count) =>
        new(Kind, Leaked, AwaitedBy, waitingOn, CreatedBy, CreationStack, ScopeName, Age, count, RetentionPath, Verdict) { Operations = Operations, IsRunning = IsRunning, HostedService = HostedService, CreatedInTest = CreatedInTest };

    /// <summary>This entry with a verdict and without its operations, so that it holds no reference to the work.</summary>
    internal TaskLeak Detached(string retentionPath, string verdict) =>
        new(Kind, Leaked, AwaitedBy, WaitingOn, CreatedBy, CreationStack, ScopeName, Age, Count, retentionPath, verdict) { IsRunning = IsRunning, RunningTasks = RunningTasks, HostedService = HostedService, CreatedInTest = CreatedInTest };

    /// <summary>
    /// True for queued work the stuck check found freed that never ran: a delegate task or continuation that had not
    /// started, which only continuations wait on (an async method awaiting it is suspended forever, and counts).
    /// </summary>
    internal bool NeverRan =>
        Kind is LeakKind.DelegateTask or LeakKind.Continuation && !IsRunning && Verdict is not null
        && AwaitedBy.All(frame => frame.IsContinuation);

    /// <summary>This entry, detached earlier, as old as it is when a later report carries it.</summary>
    internal TaskLeak Older(TimeSpan by) =>
        new(Kind, Leaked, AwaitedBy, WaitingOn, CreatedBy, CreationStack, ScopeName, Age + by, Count, RetentionPath, Verdict) { IsRunning = IsRunning, RunningTasks = RunningTasks, HostedService = HostedService, CreatedInTest = CreatedInTest };

    /// <summary>This entry as a dormant task (<see cref="LeakKind.DormantTask"/>): listed, not counted.</summary>
    internal TaskLeak AsDormantTask() =>
        new(LeakKind.DormantTask, Leaked, AwaitedBy, WaitingOn, CreatedBy, CreationStack, ScopeName, Age, Count, RetentionPath, Verdict) { HostedService = HostedService, CreatedInTest = CreatedInTest };

    internal TaskLeak WithRetention(string? retentionPath, string? verdict) =>
        new(Kind, Leaked, AwaitedBy, WaitingOn, CreatedBy, CreationStack, ScopeName, Age, Count, retentionPath, verdict) { Operations = Operations, IsRunning = IsRunning, RunningTasks = RunningTasks, HostedService = HostedService, CreatedInTest = CreatedInTest };
}
