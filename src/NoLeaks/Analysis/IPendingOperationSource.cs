namespace NoLeaks.Analysis;

/// <summary>
/// Where pending operations come from. The runtime's task tracking is one source; a heap snapshot is another.
/// Everything downstream (chains, await sites, filters, grace period, report) reads only what a source returns.
/// </summary>
internal interface IPendingOperationSource
{
    /// <summary>A short name for warnings: "runtime task tracking".</summary>
    string Name { get; }

    /// <summary>Null when the source works; otherwise one sentence saying why it does not.</summary>
    string? UnavailableReason { get; }

    /// <summary>Called when a scope begins, on the thread that begins it.</summary>
    void OnScopeBegun(LeakScope scope);

    /// <summary>The operations the scope (and its never-ended child scopes) own that are still pending.</summary>
    IReadOnlyList<PendingOperation> CollectPending(LeakScope scope, ICollection<string> warnings);

    /// <summary>
    /// True when every operation the scope has pending is a promise or a test framework's own code (which the
    /// built-in filters allow), decided without inspecting them; <paramref name="methods"/> counts the distinct
    /// methods. False when any is not, or when the source cannot tell cheaply: then <see cref="CollectPending"/>.
    /// </summary>
    bool IsOnlyFrameworkWork(LeakScope scope, out int methods)
    {
        methods = 0;
        return false;
    }

    /// <summary>
    /// True when the operations this source returns carry their timers' due moments
    /// (<see cref="PendingOperation.TimerDueTimestamp"/>): only then can a check tell a late timer from a leak.
    /// </summary>
    bool ReadsTimerDue => false;

    /// <summary>A cheap fingerprint of the scope's pending set; when it has not changed, neither has the analysis.</summary>
    long PendingFingerprint(LeakScope scope);
}
