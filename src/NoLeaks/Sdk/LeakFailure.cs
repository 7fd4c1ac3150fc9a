namespace NoLeaks.Sdk;

/// <summary>The failure a framework adapter raises for a test that leaked.</summary>
public static class LeakFailure
{
    /// <summary>
    /// The exception that fails a test for <paramref name="report"/>, without the adapter's stack frames. Its message is
    /// the whole report; when <paramref name="testAlreadyFailed"/> (the framework then lists both failures, and the
    /// report is written to the test's output) only the report's first line, so that the report appears once.
    /// </summary>
    public static TaskLeakException For(LeakReport report, bool testAlreadyFailed)
    {
        ArgumentNullException.ThrowIfNull(report);
        return TaskLeakException.ForAdapter(report, testAlreadyFailed);
    }
}
