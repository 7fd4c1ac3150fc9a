using NoLeaks.Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

// One test collection at a time: xunit's default ("conservative") algorithm keeps to it; the probes below fail when
// the test framework runs collections beyond it.
[assembly: CollectionBehavior(MaxParallelThreads = 1)]

namespace NoLeaks.Fixtures;

// Three collections (one per class). Each probe stays a while, so that a runner that ignored the limit would start
// the others meanwhile (xunit starts every collection's task at once); a probe that finds another inside fails.
public sealed class ParallelLimitProbe
{
    private static int s_inside;

    public static void Enter()
    {
        var inside = Interlocked.Increment(ref s_inside);
        try
        {
            if (inside > 1)
            {
                throw new XunitException($"{inside} test collections ran at once, where MaxParallelThreads = 1 allows one");
            }

            // About time: the window in which another collection would start.
            Thread.Sleep(300);
        }
        finally
        {
            Interlocked.Decrement(ref s_inside);
        }
    }
}

public sealed class ParallelLimitTestsA
{
    [Fact]
    public void Runs_alone() => ParallelLimitProbe.Enter();
}

public sealed class ParallelLimitTestsB
{
    [Fact]
    public void Runs_alone() => ParallelLimitProbe.Enter();
}

public sealed class ParallelLimitTestsC
{
    [Fact]
    public void Runs_alone() => ParallelLimitProbe.Enter();
}

// A test case type with a runner of its own that leaves xunit's before/after-test attributes out, as FsCheck.Xunit's
// property runner does: NoLeaks cannot check its tests, and the run says how many went unchecked.
public sealed class OwnRunnerTests
{
    [OwnRunnerFact]
    public void Test_run_by_a_runner_that_skips_the_attributes() => _ = LeakyWork.OwnRunnerAsync();

    [OwnRunnerFact(Skip = "a skipped test is not counted")]
    public void Skipped_test_of_that_runner()
    {
    }

    [OwnRunnerFact, AllowTaskLeaks("not to be checked, so not counted as unchecked")]
    public void Allowed_test_of_that_runner()
    {
    }
}

[XunitTestCaseDiscoverer("NoLeaks.Fixtures.OwnRunnerFactDiscoverer", "XunitV2AssemblyLevelFixture")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class OwnRunnerFactAttribute : FactAttribute;

public sealed class OwnRunnerFactDiscoverer(IMessageSink diagnostics) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        [new OwnRunnerTestCase(diagnostics, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
}

public sealed class OwnRunnerTestCase : XunitTestCase
{
    [Obsolete("For deserialization only")]
    public OwnRunnerTestCase()
    {
    }

    public OwnRunnerTestCase(IMessageSink diagnostics, TestMethodDisplay display, TestMethodDisplayOptions displayOptions, ITestMethod testMethod)
        : base(diagnostics, display, displayOptions, testMethod)
    {
    }

    public override Task<RunSummary> RunAsync(IMessageSink diagnosticMessageSink, IMessageBus messageBus, object[] constructorArguments, ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource) =>
        new Runner(this, DisplayName, SkipReason, constructorArguments, TestMethodArguments, messageBus, aggregator, cancellationTokenSource).RunAsync();

    private sealed class Runner(IXunitTestCase testCase, string displayName, string skipReason, object[] constructorArguments, object[] testMethodArguments, IMessageBus messageBus, ExceptionAggregator aggregator, CancellationTokenSource cancellation)
        : XunitTestCaseRunner(testCase, displayName, skipReason, constructorArguments, testMethodArguments, messageBus, aggregator, cancellation)
    {
        protected override XunitTestRunner CreateTestRunner(ITest test, IMessageBus messageBus, Type testClass, object[] constructorArguments, System.Reflection.MethodInfo testMethod, object[] testMethodArguments, string skipReason, IReadOnlyList<BeforeAfterTestAttribute> beforeAfterAttributes, ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource) =>
            base.CreateTestRunner(test, messageBus, testClass, constructorArguments, testMethod, testMethodArguments, skipReason, [], aggregator, cancellationTokenSource);
    }
}
