using System.Diagnostics;
using System.Reflection;

namespace NoLeaks.Analysis;

/// <summary>What a pending operation is, as far as the report cares.</summary>
internal enum OperationKind
{
    AsyncMethod,
    DelegateTask,
    Continuation,

    /// <summary>
    /// A .NET 11 runtime-async method (no state machine; .NET's own libraries are compiled so): reported only when no
    /// async method, delegate or continuation awaits it, since one that does names it as what it waits on.
    /// </summary>
    RuntimeAsyncMethod,

    /// <summary>A promise (Task.Delay, WhenAll, Unwrap …): waited on, never reported on its own.</summary>
    Promise,

    /// <summary>An unfinished async method the GC collected (its finally blocks never ran): reported as it was last seen.</summary>
    AbandonedAsyncMethod,
}

/// <summary>What a pending operation is doing, as far as its source can tell.</summary>
internal enum OperationActivity
{
    /// <summary>Not known, or suspended at an await (async methods).</summary>
    Unknown,

    /// <summary>A continuation whose antecedent has not completed: it has not been queued and runs only when that completes.</summary>
    NotStarted,

    /// <summary>Queued to a scheduler, not running yet.</summary>
    Queued,

    /// <summary>Executing code right now, on some thread.</summary>
    Running,
}

/// <summary>
/// One unfinished operation, as a source saw it. Sources (runtime tracking, heap snapshots) fill it in; everything
/// after them — chains, await sites, filters, the report — reads only this.
/// </summary>
internal sealed class PendingOperation
{
    /// <summary>The identities other operations use to point at this one (the task; the state machine object).</summary>
    public required IReadOnlyList<object> Keys { get; init; }

    public required OperationKind Kind { get; init; }

    public int TaskId { get; init; }

    /// <summary>The compiler-generated state machine type of an async method.</summary>
    public Type? StateMachineType { get; init; }

    /// <summary>The state machine's <c>&lt;&gt;1__state</c>: the index of the await it is suspended at, or -1 running.</summary>
    public int State { get; init; } = -1;

    /// <summary>The delegate's method, for delegate tasks and continuations.</summary>
    public MethodBase? DelegateMethod { get; init; }

    /// <summary>The identity of what this operation waits on (a task, a value-task source …), when known.</summary>
    public object? AwaitedKey { get; init; }

    /// <summary>Whether it is running, queued or has not started (delegate tasks and continuations; running async methods).</summary>
    public OperationActivity Activity { get; init; }

    /// <summary>True when what it waits on is a timer that will fire (a finite Task.Delay): it will run again by itself.</summary>
    public bool WaitsOnTimer { get; init; }

    /// <summary>
    /// For work waiting on a system timer: the <see cref="System.Diagnostics.Stopwatch"/> timestamp at which that timer is
    /// due (earlier than now when it is late); null when not known.
    /// </summary>
    public long? TimerDueTimestamp { get; init; }

    /// <summary>
    /// True when it is suspended on something that has already completed: its resumption is being delivered (queued,
    /// or held up by the code that runs the check), so it is not left behind.
    /// </summary>
    public bool Resuming { get; init; }

    /// <summary>
    /// True for the runtime's task that carries an async method's next step to a TaskScheduler of the user's: while it
    /// is pending, the method it resumes is held by that scheduler, not on its way.
    /// </summary>
    public bool HoldsResumption { get; init; }

    /// <summary>What this operation waits on, named plainly.</summary>
    public required string WaitingOn { get; init; }

    /// <summary>Identities of the operations that continue when this one completes (who awaits it).</summary>
    public IReadOnlyList<object> ContinuationKeys { get; init; } = [];

    /// <summary>True when the operation is the engine's own and never to be reported, nor anything awaiting it.</summary>
    public bool IsEngineOwn { get; init; }

    public long CreatedTimestamp { get; init; }

    /// <summary>Who started it, as the source knows it (null: the scope itself).</summary>
    public string? CreatedBy { get; init; }

    public StackTrace? CreationStack { get; init; }

    /// <summary>The test that created it, for work a test handed to a fixture that outlives it; null otherwise.</summary>
    public string? CreatedInTest { get; init; }

    /// <summary>
    /// The hosted service the async method runs on, as the heap source read it; null otherwise (the tracking source's
    /// operations hold the live instance, read when the report is made).
    /// </summary>
    public HostedServiceReading? HostedService { get; init; }

    /// <summary>The name of the scope that owns it.</summary>
    public required string ScopeName { get; init; }
}

/// <summary>A hosted service read from the heap: its type, and whether its stop was requested (null: not known).</summary>
internal sealed record HostedServiceReading(Type Type, bool? StoppingRequested);
