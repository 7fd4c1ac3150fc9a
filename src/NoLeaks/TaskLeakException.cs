namespace NoLeaks;

/// <summary>Thrown when a test leaves asynchronous work behind (or, when asked, could not be checked); its message is the leak report.</summary>
public sealed class TaskLeakException : Exception
{
    /// <summary>Creates the exception for a report that should fail the test.</summary>
    public TaskLeakException(LeakReport report)
        : base(report.ToString()) => Report = report;

    /// <summary>The report that caused the failure.</summary>
    public LeakReport Report { get; }
}
