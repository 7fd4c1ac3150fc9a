using System.Reflection;
using NoLeaks.Sdk;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace NoLeaks.Xunit.Sdk;

/// <summary>
/// The xunit test framework that checks tests marked <c>[NoTaskLeaks]</c> after their test class is disposed. The
/// package selects it with <see cref="UseLeakCheckingTestFrameworkAttribute"/>; a custom framework can derive from it.
/// </summary>
public class LeakCheckingTestFramework : XunitTestFramework
{
    /// <summary>Creates the framework.</summary>
    public LeakCheckingTestFramework(IMessageSink messageSink)
        : base(messageSink) => Volatile.Write(ref s_running, true);

    private static bool s_running;

    /// <summary>True once this framework (or one derived from it) runs tests in this process.</summary>
    internal static bool IsRunning => Volatile.Read(ref s_running);

    /// <inheritdoc/>
    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName)
    {
        WarmUpIfMarked(assemblyName);
        return new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);
    }

    // With [assembly: NoTaskLeaks] every test is checked: start the engine now, while the runner sets up.
    private static void WarmUpIfMarked(AssemblyName assemblyName)
    {
        try
        {
            if (Assembly.Load(assemblyName).IsDefined(typeof(NoTaskLeaksAttribute), inherit: false))
            {
                NoLeaks.Sdk.LeakCheckWarmUp.StartInBackground();
            }
        }
        catch (Exception)
        {
            // The first checked test starts the engine itself.
        }
    }

    private sealed class Executor(AssemblyName assemblyName, ISourceInformationProvider sourceInformation, IMessageSink diagnostics)
        : XunitTestFrameworkExecutor(assemblyName, sourceInformation, diagnostics)
    {
        protected override async void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink executionMessageSink, ITestFrameworkExecutionOptions executionOptions)
        {
            using var runner = new AssemblyRunner(TestAssembly, testCases, DiagnosticMessageSink, executionMessageSink, executionOptions);
            await runner.RunAsync();
        }
    }

    private sealed class AssemblyRunner(ITestAssembly testAssembly, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics, IMessageSink executionSink, ITestFrameworkExecutionOptions options)
        : XunitTestAssemblyRunner(testAssembly, testCases, diagnostics, executionSink, options)
    {
        // xunit 2.8+'s default "conservative" parallel algorithm runs at most maxParallelThreads collections at once:
        // its RunTestCollectionAsync, which this class replaces, waits on a semaphore that RunTestCollectionsAsync sets
        // up. Without it every collection starts at once (on 2 cores: 20–30 tests running instead of 2), and tests that
        // block pool threads starve the pool for everyone (Polly's InfiniteRetry_Delay_Does_Not_Overflow_2163 went from
        // 1 s to 20 s). The field is private; xunit v2 is frozen at 2.9.3. Absent (before 2.8) or null (aggressive
        // algorithm, parallelization off, unlimited threads): nothing to wait for, as in xunit itself.
        private static readonly FieldInfo? ParallelSemaphoreField =
            typeof(XunitTestAssemblyRunner).GetField("parallelSemaphore", BindingFlags.Instance | BindingFlags.NonPublic);

        protected override async Task<RunSummary> RunTestCollectionAsync(IMessageBus messageBus, ITestCollection testCollection, IEnumerable<IXunitTestCase> testCases, CancellationTokenSource cancellationTokenSource)
        {
            var semaphore = ParallelSemaphoreField?.GetValue(this) as SemaphoreSlim;
            if (semaphore is not null)
            {
                await semaphore.WaitAsync(cancellationTokenSource.Token);
            }

            try
            {
                return await new CollectionRunner(testCollection, testCases, DiagnosticMessageSink, messageBus, TestCaseOrderer, new ExceptionAggregator(Aggregator), cancellationTokenSource).RunAsync();
            }
            finally
            {
                semaphore?.Release();
            }
        }
    }

    private sealed class CollectionRunner(ITestCollection testCollection, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics, IMessageBus messageBus, ITestCaseOrderer orderer, ExceptionAggregator aggregator, CancellationTokenSource cancellation)
        : XunitTestCollectionRunner(testCollection, testCases, diagnostics, messageBus, orderer, aggregator, cancellation)
    {
        protected override Task<RunSummary> RunTestClassAsync(ITestClass testClass, IReflectionTypeInfo @class, IEnumerable<IXunitTestCase> testCases) =>
            new ClassRunner(testClass, @class, testCases, DiagnosticMessageSink, MessageBus, TestCaseOrderer, new ExceptionAggregator(Aggregator), CancellationTokenSource, CollectionFixtureMappings).RunAsync();

        protected override async Task AfterTestCollectionStartingAsync()
        {
            await base.AfterTestCollectionStartingAsync();
            FixtureOwners.Name(CollectionFixtureMappings, "collection fixture");
        }

        // After the collection fixtures are disposed: work tests handed to them must be done.
        protected override async Task BeforeTestCollectionFinishedAsync()
        {
            await base.BeforeTestCollectionFinishedAsync();
            FixtureOwners.End(CollectionFixtureMappings, Aggregator, DiagnosticMessageSink);
        }
    }

    private sealed class ClassRunner(ITestClass testClass, IReflectionTypeInfo @class, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics, IMessageBus messageBus, ITestCaseOrderer orderer, ExceptionAggregator aggregator, CancellationTokenSource cancellation, IDictionary<Type, object> collectionFixtures)
        : XunitTestClassRunner(testClass, @class, testCases, diagnostics, messageBus, orderer, aggregator, cancellation, collectionFixtures)
    {
        protected override Task<RunSummary> RunTestMethodAsync(ITestMethod testMethod, IReflectionMethodInfo method, IEnumerable<IXunitTestCase> testCases, object[] constructorArguments) =>
            new MethodRunner(testMethod, Class, method, testCases, DiagnosticMessageSink, MessageBus, new ExceptionAggregator(Aggregator), CancellationTokenSource, constructorArguments).RunAsync();

        protected override async Task AfterTestClassStartingAsync()
        {
            await base.AfterTestClassStartingAsync();
            FixtureOwners.Name(ClassFixtureMappings, "class fixture");
        }

        // After the class fixtures are disposed: work tests handed to them must be done.
        protected override async Task BeforeTestClassFinishedAsync()
        {
            await base.BeforeTestClassFinishedAsync();
            FixtureOwners.End(ClassFixtureMappings, Aggregator, DiagnosticMessageSink);
        }
    }

    /// <summary>Class and collection fixtures as owners of the work tests leave in them.</summary>
    private static class FixtureOwners
    {
        public static void Name(IDictionary<Type, object> fixtures, string kind)
        {
            foreach (var (type, instance) in fixtures)
            {
                LeakOwner.For(instance, $"{kind} {type.Name}");
            }
        }

        public static void End(IDictionary<Type, object> fixtures, ExceptionAggregator aggregator, IMessageSink diagnostics)
        {
            var owners = fixtures.Values.Select(instance => LeakOwner.For(instance, instance.GetType().Name));
            foreach (var failure in XunitLeakCheck.EndOwners(owners, message => diagnostics.OnMessage(new DiagnosticMessage(message))))
            {
                aggregator.Add(failure);
            }
        }
    }

    private sealed class MethodRunner(ITestMethod testMethod, IReflectionTypeInfo @class, IReflectionMethodInfo method, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics, IMessageBus messageBus, ExceptionAggregator aggregator, CancellationTokenSource cancellation, object[] constructorArguments)
        : XunitTestMethodRunner(testMethod, @class, method, testCases, diagnostics, messageBus, aggregator, cancellation, constructorArguments)
    {
        private readonly IMessageSink _diagnostics = diagnostics;
        private readonly object[] _constructorArguments = constructorArguments;

        // Only xunit's own test case types are re-routed; custom ones (SkippableFact …) run as they are and are
        // checked, if at all, by the attribute's before-disposal fallback.
        protected override Task<RunSummary> RunTestCaseAsync(IXunitTestCase testCase)
        {
            if (testCase.GetType() == typeof(XunitTestCase))
            {
                return new FactRunner(testCase, testCase.DisplayName, testCase.SkipReason, _constructorArguments, testCase.TestMethodArguments, MessageBus, new ExceptionAggregator(Aggregator), CancellationTokenSource).RunAsync();
            }

            if (testCase.GetType() == typeof(XunitTheoryTestCase))
            {
                return new TheoryRunner(testCase, testCase.DisplayName, testCase.SkipReason, _constructorArguments, _diagnostics, MessageBus, new ExceptionAggregator(Aggregator), CancellationTokenSource).RunAsync();
            }

            return RunOtherTestCaseAsync(testCase);
        }

        // A test case type of another library runs its tests through its own runner; they are checked by the
        // attribute's before-disposal fallback when that runner runs xunit's before/after-test attributes. Some runners
        // (FsCheck.Xunit's properties) do not: the run says how many tests went unchecked that way.
        private async Task<RunSummary> RunOtherTestCaseAsync(IXunitTestCase testCase)
        {
            var testClass = Class.Type;
            var method = Method.ToRuntimeMethod();
            if (testClass is null || method is null || !XunitLeakCheck.IsMarked(testClass, method))
            {
                return await base.RunTestCaseAsync(testCase);
            }

            var (summary, begins) = await XunitLeakCheck.CountingBegins(() => base.RunTestCaseAsync(testCase));
            var ran = summary.Total - summary.Skipped;
            if (begins == 0 && ran > 0)
            {
                LeakRun.AddUnchecked(ran, testCase.GetType().FullName ?? testCase.GetType().Name, UncheckedWhy, testClass.Assembly);
            }

            return summary;
        }
    }

    private const string UncheckedWhy = "runs its tests without xunit's before/after-test attributes, through which NoLeaks checks "
        + "the tests of test case types it does not run itself ([AllowTaskLeaks] on them takes them out of this count).";

    private sealed class FactRunner(IXunitTestCase testCase, string displayName, string skipReason, object[] constructorArguments, object[] testMethodArguments, IMessageBus messageBus, ExceptionAggregator aggregator, CancellationTokenSource cancellation)
        : XunitTestCaseRunner(testCase, displayName, skipReason, constructorArguments, testMethodArguments, messageBus, aggregator, cancellation)
    {
        protected override XunitTestRunner CreateTestRunner(ITest test, IMessageBus messageBus, Type testClass, object[] constructorArguments, MethodInfo testMethod, object[] testMethodArguments, string skipReason, IReadOnlyList<BeforeAfterTestAttribute> beforeAfterAttributes, ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource) =>
            new LeakCheckingTestRunner(test, messageBus, testClass, constructorArguments, testMethod, testMethodArguments, skipReason, beforeAfterAttributes, aggregator, cancellationTokenSource);
    }

    private sealed class TheoryRunner(IXunitTestCase testCase, string displayName, string skipReason, object[] constructorArguments, IMessageSink diagnostics, IMessageBus messageBus, ExceptionAggregator aggregator, CancellationTokenSource cancellation)
        : XunitTheoryTestCaseRunner(testCase, displayName, skipReason, constructorArguments, diagnostics, messageBus, aggregator, cancellation)
    {
        protected override XunitTestRunner CreateTestRunner(ITest test, IMessageBus messageBus, Type testClass, object[] constructorArguments, MethodInfo testMethod, object[] testMethodArguments, string skipReason, IReadOnlyList<BeforeAfterTestAttribute> beforeAfterAttributes, ExceptionAggregator aggregator, CancellationTokenSource cancellationTokenSource) =>
            new LeakCheckingTestRunner(test, messageBus, testClass, constructorArguments, testMethod, testMethodArguments, skipReason, beforeAfterAttributes, aggregator, cancellationTokenSource);
    }
}
