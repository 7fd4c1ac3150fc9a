namespace NoLeaks;

/// <summary>
/// Receives the report of every checked test of the run, clean ones too (register it in an
/// <see cref="ILeakSuiteConfiguration"/>): to write a file, log, or feed a dashboard. Calls to one sink never overlap,
/// even when tests run in parallel. A sink that throws is named once on the standard error; the run goes on.
/// </summary>
public interface ILeakReportSink
{
    /// <summary>Takes one test's report; <see cref="LeakReport.ScopeName"/> names the test.</summary>
    void Receive(LeakReport report);
}
