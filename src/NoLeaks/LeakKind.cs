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
}
