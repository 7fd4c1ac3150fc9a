using System.Reflection;
using NoLeaks.Sdk;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace NoLeaks.Xunit.Sdk;

/// <summary>Runs one test (one theory row) and checks it for leaks after its test class is disposed.</summary>
internal sealed class LeakCheckingTestRunner(ITest test, IMessageBus messageBus, Type testClass, object[] constructorArguments, MethodInfo testMethod, object[] testMethodArguments, string skipReason, IReadOnlyList<BeforeAfterTestAttribute> beforeAfterAttributes, ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource)
    : XunitTestRunner(test, messageBus, testClass, constructorArguments, testMethod, testMethodArguments, skipReason, beforeAfterAttributes, aggregator, cancellationTokenSource)
{
    // Skipped tests never get here: TestRunner reports them without invoking the test.
    protected override async Task<Tuple<decimal, string>> InvokeTestAsync(ExceptionAggregator aggregator)
    {
        var context = ExecutionContext.Capture();
        if (context is null)
        {
            // Flow suppressed by the caller: no scope could follow the test, so there is nothing to check with.
            return await base.InvokeTestAsync(aggregator);
        }

        XunitLeakCheck? check = null;
        string? warning = null;
        Task<Tuple<decimal, string>>? invocation = null;

        // The check's scope is current only inside Run: the test (constructor, Before, body, After, Dispose) is
        // its work, but this method's own await, which outlives the check, is not.
        ExecutionContext.Run(context, _ =>
        {
            check = XunitLeakCheck.Begin(Test.DisplayName, TestClass, TestMethod, TestCase.Timeout, owner: null, out warning);
            invocation = base.InvokeTestAsync(aggregator);
        }, null);
        var result = await invocation!;
        check?.AttachOwners(ConstructorArguments.Where(argument => argument is not null and not ITestOutputHelper)
            .Select(fixture => LeakOwner.For(fixture, $"fixture {fixture.GetType().Name}")));

        // Awaited: the grace period holds none of xunit's threads (other tests run on them meanwhile).
        var outcome = check is null ? XunitLeakOutcome.Clean : await check.EndAsync(testAlreadyFailed: aggregator.HasExceptions);
        if (outcome.Failure is not null)
        {
            // Added, never replacing: a test that failed on its own reports both.
            aggregator.Add(outcome.Failure);
        }

        // A warned test's output already holds the report that its warning line starts.
        var extra = string.Join(Environment.NewLine, new[] { warning, outcome.Output, outcome.Output is null ? outcome.Warning : null }.Where(text => text is not null));
        return extra.Length == 0 ? result : Tuple.Create(result.Item1, Append(result.Item2, extra));
    }

    private static string Append(string output, string text) =>
        output.Length == 0 || output.EndsWith('\n') ? output + text + Environment.NewLine : output + Environment.NewLine + text + Environment.NewLine;
}
