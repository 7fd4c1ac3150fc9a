namespace NoLeaks;

/// <summary>Thrown when a test leaves asynchronous work behind; its message is the leak report.</summary>
public sealed class TaskLeakException : Exception
{
    private readonly bool _raisedByAdapter;

    /// <summary>Creates the exception for a report with leaks.</summary>
    public TaskLeakException(LeakReport report)
        : base(report.ToString()) => Report = report;

    private TaskLeakException(LeakReport report, string message)
        : base(message)
    {
        Report = report;
        _raisedByAdapter = true;
    }

    /// <summary>The report that caused the failure.</summary>
    public LeakReport Report { get; }

    /// <summary>
    /// Where it was thrown; null when a test framework adapter raised it, whose frames say nothing about the test
    /// (the report says where the leaked work is).
    /// </summary>
    public override string? StackTrace => _raisedByAdapter ? null : base.StackTrace;

    /// <summary>The exception an adapter fails a test with (see <see cref="Sdk.LeakFailure"/>).</summary>
    internal static TaskLeakException ForAdapter(LeakReport report, bool brief) =>
        new(report, brief ? Brief(report) : report.ToString());

    private static string Brief(LeakReport report)
    {
        var text = report.ToString();
        var firstLine = text.Split('\n', 2)[0].TrimEnd();
        return $"{firstLine}. The test also failed on its own; the leak report is in the test's output.";
    }
}
