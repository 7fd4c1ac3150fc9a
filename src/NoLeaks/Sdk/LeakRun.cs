using System.Reflection;
using NoLeaks.Policy;
using NoLeaks.Reporting;

namespace NoLeaks.Sdk;

/// <summary>
/// The leaks of the whole test run, for framework adapters: each checked test's report is added here. When a test
/// leaked, the process prints the run's summary when it exits, writes <c>NOLEAKS_REPORT</c>, and under GitHub
/// Actions annotates the await sites; a test in warn mode also gets one line on the console at once. The report
/// also goes to the report sinks of the test assembly's suite configuration.
/// </summary>
public static class LeakRun
{
    /// <summary>Adds the report of one checked test, made in <paramref name="testAssembly"/>. Never throws.</summary>
    public static void Add(LeakReport report, Assembly? testAssembly)
    {
        ArgumentNullException.ThrowIfNull(report);
        try
        {
            RunSummary.Add(report, testAssembly);
        }
        catch (Exception)
        {
            // The run summary is extra: the test's own report already carries everything.
        }

        try
        {
            LeakSuite.Of(testAssembly).Deliver(report);
        }
        catch (Exception)
        {
            // Deliver names a failing sink itself; nothing else may break the test.
        }
    }

    /// <summary>
    /// Records tests that ran without a leak check although their attributes ask for one: their runner bypassed every
    /// point where the adapter checks (a test case type of another library with a runner of its own).
    /// <paramref name="runner"/> names that runner, <paramref name="why"/> says in a few words what it skips. When the
    /// process exits, one line per runner says how many tests it ran unchecked, and the report file counts them. Never
    /// throws.
    /// </summary>
    public static void AddUnchecked(int tests, string runner, string why, Assembly? testAssembly)
    {
        try
        {
            RunSummary.AddUnchecked(tests, runner, why, testAssembly);
        }
        catch (Exception)
        {
            // The line is extra; the tests' own results stand.
        }
    }
}
