using System.Reflection;
using NoLeaks.Xunit.Sdk;
using Xunit;
using Xunit.v3;

namespace NoLeaks.Xunit;

/// <summary>
/// Fails a test that leaves async work behind. Put it on a test method, a test class or the assembly
/// (<c>[assembly: NoTaskLeaks]</c>); the closest level wins. On xunit v3 4.0 or later the check runs after the test class
/// is disposed; on 3.x, before.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed partial class NoTaskLeaksAttribute : BeforeAfterTestAttribute
{
    /// <summary>Begins the check here only when the NoLeaks assembly fixture is not registered (always on xunit v3 3.x).</summary>
    public override void Before(MethodInfo methodUnderTest, IXunitTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        BeginFallbackCheck(
            test.TestDisplayName,
            XunitTestMembers.ClassOf(test),
            test.TestMethod.Method,
            XunitTestMembers.TimeoutOf(test),
            warning => TestContext.Current.AddWarning(warning));
    }

    /// <summary>Ends a check begun by <see cref="Before"/>: fails the test on a leak (before disposal).</summary>
    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        var outcome = EndFallbackCheck();
        Deliver(outcome, throwFailure: true);
    }

    /// <summary>Writes a check's report to the current test's output and warnings, and throws its failure.</summary>
    internal static void Deliver(XunitLeakOutcome outcome, bool throwFailure)
    {
        var context = TestContext.Current;
        try
        {
            if (outcome.Output is not null)
            {
                context.TestOutputHelper?.WriteLine(outcome.Output);
            }

            if (outcome.Warning is not null)
            {
                context.AddWarning(outcome.Warning);
            }
        }
        catch (Exception exception)
        {
            // The report must never take a test run down: the failure below still carries it.
            context.SendDiagnosticMessage($"NoLeaks could not write to the test's output: {exception.Message}");
        }

        if (throwFailure && outcome.Failure is not null)
        {
            throw outcome.Failure;
        }
    }
}
