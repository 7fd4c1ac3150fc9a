using System.Collections.Concurrent;
using Xunit;
using Xunit.v3;

namespace NoLeaks.Xunit.Sdk;

/// <summary>
/// The assembly fixture that checks tests marked <c>[NoTaskLeaks]</c>: it begins before the test class is created and
/// ends after the test class is disposed.
/// </summary>
public sealed class LeakCheckFixture : INotifyTestLifecycle
{
    private readonly ConcurrentDictionary<IXunitTest, XunitLeakCheck> _checks = new(ReferenceEqualityComparer.Instance);

    /// <summary>Creates the fixture; with <c>[assembly: NoTaskLeaks]</c> it starts the engine ahead of the first test.</summary>
    public LeakCheckFixture()
    {
        try
        {
            if (TestContext.Current.TestAssembly is IXunitTestAssembly { Assembly: var assembly }
                && assembly.IsDefined(typeof(NoTaskLeaksAttribute), inherit: false))
            {
                NoLeaks.Sdk.LeakCheckWarmUp.StartInBackground();
            }
        }
        catch (Exception)
        {
            // The first checked test starts the engine itself.
        }
    }

    /// <summary>Begins the check of a test whose attributes ask for one.</summary>
    public void OnTestStarting(IXunitTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        var check = XunitLeakCheck.Begin(test.TestDisplayName, test.TestMethod.TestClass.Class, test.TestMethod.Method, test.Timeout, owner: null, out var warning);
        if (warning is not null)
        {
            TestContext.Current.AddWarning(warning);
        }

        if (check is not null)
        {
            _checks[test] = check;
        }
    }

    /// <summary>Ends the check of a test: fails it on a leak, adding the report to its output.</summary>
    public void OnTestFinished(IXunitTest test)
    {
        if (test is null || !_checks.TryRemove(test, out var check))
        {
            return;
        }

        var result = TestContext.Current.TestState?.Result;
        var outcome = check.End(testAlreadyFailed: result == TestResult.Failed);
        if (result != TestResult.Skipped)
        {
            // A test skipped at run time (Assert.Skip) is not checked.
            Deliver(outcome, throwFailure: true);
        }
    }

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
