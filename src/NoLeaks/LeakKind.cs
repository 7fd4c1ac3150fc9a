namespace NoLeaks;

/// <summary>What kind of asynchronous work was left behind.</summary>
public enum LeakKind
{
    /// <summary>An async method suspended at an <c>await</c> that has not resumed.</summary>
    AsyncMethod,

    /// <summary>A delegate task (<c>Task.Run</c>, <c>Task.Factory.StartNew</c>) still queued or running.</summary>
    DelegateTask,

    /// <summary>A <c>ContinueWith</c> continuation still waiting or running.</summary>
    Continuation,

    /// <summary>An unfinished async method that was garbage-collected: its <c>finally</c> blocks never ran.</summary>
    AbandonedAsyncMethod,

    /// <summary>
    /// A <c>ContinueWith</c> continuation that has not started and never will unless something completes its
    /// antecedent, which nothing the test left running or scheduled will do. It runs no code and holds only memory:
    /// listed in the report, not counted as a leak unless <see cref="NoLeaksOptions.CountDormantContinuations"/> says so.
    /// </summary>
    DormantContinuation,

    /// <summary>
    /// A delegate task (or a continuation) queued to a <c>TaskScheduler</c> that nothing in the process can reach any
    /// more (a full garbage collection freed it): it never ran and never will. It runs no code and holds only memory:
    /// listed with the dormant continuations, not counted as a leak unless <see cref="NoLeaksOptions.CountDormantContinuations"/> says so.
    /// </summary>
    DormantTask,
}
