using NoLeaks.Tracking;

namespace NoLeaks.Sdk;

/// <summary>
/// For frameworks that run a test's own code before any hook can begin its scope (NUnit builds an
/// InstancePerTestCase fixture in the test's execution context, before its actions run): the work that code started
/// is handed to the scope once it has begun.
/// </summary>
public static class EarlyWork
{
    /// <summary>
    /// Hands to <paramref name="scope"/> the pending work no scope owns that was created in an execution context for
    /// which <paramref name="createdForThisTest"/>, run inside that context, returns true (it reads the framework's
    /// own per-test state). Returns how many operations were handed over; 0 with a source other than the runtime's
    /// task tracking. Never throws.
    /// </summary>
    public static int AdoptInto(LeakScope scope, Func<bool> createdForThisTest)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(createdForThisTest);
        try
        {
            return scope.Source is TrackingSource tracking ? tracking.Adopt(scope, Guard(createdForThisTest)) : 0;
        }
        catch (Exception)
        {
            // Adoption only widens what a check sees; the check itself still runs.
            return 0;
        }
    }

    private static Func<bool> Guard(Func<bool> test) => () =>
    {
        try
        {
            return test();
        }
        catch (Exception)
        {
            return false;
        }
    };
}
