using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using NoLeaks.Sdk;
using NUnit.Framework;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

namespace NoLeaks.NUnit;

/// <summary>
/// One leak check per test run: the outermost NoLeaks hook of a test begins the scope, the same hook ends it.
/// Everything here turns its own failures into a line in the test's output; only a leak fails a test.
/// </summary>
internal static class TestLeakCheck
{
    // Keyed by the test's execution context: each run of a test (a repeat or retry too) gets a fresh check. A plain
    // dictionary under a lock: a ConditionalWeakTable allocates a GC handle per entry, and its add and remove were
    // the adapter's largest cost in a 2,000-test run. Exit follows Enter (NUnit runs AfterTest whenever it ran
    // BeforeTest, unless the whole run is being aborted; the wrapper uses a finally), so entries end with their test.
    private static readonly Dictionary<TestExecutionContext, Check> Running = new(ReferenceEqualityComparer.Instance);
    private static readonly ConcurrentDictionary<(MethodInfo? Method, Type? Fixture), LeakCheckPlan> MethodPlans = new();
    private static readonly ConcurrentDictionary<(Type? Fixture, Assembly? Assembly), LeakCheckPlan> FixturePlans = new();
    private static readonly ConcurrentDictionary<Type, object[]> FixtureAttributes = new();
    private static readonly ConcurrentDictionary<Assembly, object[]> AssemblyAttributes = new();

    public static void Enter(ITest test, TestExecutionContext context)
    {
        try
        {
            var check = new Check();
            lock (Running)
            {
                if (Running.TryGetValue(context, out var running))
                {
                    running.Depth++;
                    return;
                }

                Running.Add(context, check);
            }

            var plan = PlanFor(test);
            if (plan.Options is { } options && options.EffectiveAction != LeakAction.Off)
            {
                check.Scope = LeakScope.Begin(test.FullName, options);
                if (test.TypeInfo?.Type is { } fixture && IsBuiltPerTest(fixture))
                {
                    // NUnit built this test's fixture instance before any action ran, in the test's own execution
                    // context: the work its constructor started belongs to the test.
                    EarlyWork.AdoptInto(check.Scope, () => TestExecutionContext.CurrentContext.CurrentTest == test);
                }
            }
            else
            {
                // A checked test's report carries the plan's warnings; this one has no report.
                foreach (var warning in plan.Warnings)
                {
                    context.CurrentResult.OutWriter.WriteLine("NoLeaks warning: " + warning);
                }
            }
        }
        catch (Exception exception)
        {
            WriteProblem(context.CurrentResult, "could not start the leak check", exception);
        }
    }

    public static void Exit(TestExecutionContext context)
    {
        var result = context.CurrentResult;
        try
        {
            Check? check;
            lock (Running)
            {
                if (!Running.TryGetValue(context, out check) || --check.Depth > 0)
                {
                    return;
                }

                Running.Remove(context);
            }

            if (check.Scope is null)
            {
                return;
            }

            // A single-instance fixture outlives its tests: work it holds is its own, checked again at the end of the run
            // by the assembly-level attribute (NUnit offers no hook after a fixture's OneTimeTearDown to a fixture-level
            // one, so without [assembly: NoTaskLeaks] such work stays the test's rather than go unchecked).
            if (context.TestObject is { } fixture && context.CurrentTest.Parent is { } suite && !IsBuiltPerTest(fixture.GetType())
                && IsMarkedAtAssemblyLevel(fixture.GetType().Assembly))
            {
                LeakOwner.Attach(check.Scope, [OwnerOf(fixture, FixtureSuiteOf(context.CurrentTest) ?? suite)]);
            }

            // The grace period runs on a timer and needs no synchronization context, so blocking here is safe;
            // a clean scope ends synchronously.
            var ending = check.Scope.EndAsync(LeakCheckPlan.WithinTimeLimit(check.Scope.Options, TimeLimitOf(context), Stopwatch.GetElapsedTime(check.Started)));
            var report = ending.IsCompletedSuccessfully ? ending.Result : ending.AsTask().GetAwaiter().GetResult();

            // A test that ended ignored or inconclusive at run time (Assert.Ignore, Assert.Inconclusive) did not run to
            // a result: it is not checked (as xunit's Assert.Skip), and the run summary does not count it.
            if (result.ResultState.Status is TestStatus.Skipped or TestStatus.Inconclusive)
            {
                return;
            }

            LeakRun.Add(report, context.CurrentTest?.TypeInfo?.Assembly);
            Record(report, result);
        }
        catch (Exception exception)
        {
            WriteProblem(result, "could not finish the leak check", exception);
        }
    }

    // [CancelAfter] and [Timeout], at any level, set the test's context's timeout (0: none).
    private static int TimeLimitOf(TestExecutionContext context) => context.TestCaseTimeout;

    private static readonly ConcurrentDictionary<Type, bool> BuiltPerTest = new();

    // [FixtureLifeCycle(LifeCycle.InstancePerTestCase)] on the fixture (or a base class) or on its assembly.
    private static bool IsBuiltPerTest(Type fixture) => BuiltPerTest.GetOrAdd(fixture, static type =>
        (type.GetCustomAttribute<FixtureLifeCycleAttribute>(inherit: true) ?? type.Assembly.GetCustomAttribute<FixtureLifeCycleAttribute>())
            is { LifeCycle: LifeCycle.InstancePerTestCase });

    // Fixture instances that received work from their tests, by the fixture's suite.
    private static readonly ConcurrentDictionary<ITest, LeakOwner> FixtureOwners = new(ReferenceEqualityComparer.Instance);

    private static readonly ConcurrentDictionary<Assembly, bool> MarkedAssemblies = new();

    private static bool IsMarkedAtAssemblyLevel(Assembly assembly) =>
        MarkedAssemblies.GetOrAdd(assembly, static a => a.IsDefined(typeof(NoTaskLeaksAttribute), inherit: false));

    private static LeakOwner OwnerOf(object fixture, ITest suite)
    {
        var owner = LeakOwner.For(fixture, $"fixture {fixture.GetType().Name}");
        FixtureOwners.TryAdd(suite, owner);
        return owner;
    }

    private static ITest? FixtureSuiteOf(ITest test)
    {
        for (var suite = test.Parent; suite is not null; suite = suite.Parent)
        {
            if (suite.Fixture is not null && suite.TypeInfo is not null && suite.Method is null)
            {
                return suite;
            }
        }

        return null;
    }

    /// <summary>
    /// When a suite ends: the work tests handed to the fixtures below it must be done; what is still pending fails the
    /// suite's teardown, each entry naming the test that created it. A fixture's own suite is not the place: NUnit ends
    /// its actions before the fixture's OneTimeTearDown, so only a suite above it (the assembly's, with
    /// <c>[assembly: NoTaskLeaks]</c>) checks it.
    /// </summary>
    public static void EndFixtures(ITest suite, TestExecutionContext context)
    {
        try
        {
            foreach (var fixtureSuite in FixtureOwners.Keys.Where(candidate => !ReferenceEquals(candidate, suite) && IsWithin(candidate, suite)).ToList())
            {
                if (!FixtureOwners.TryRemove(fixtureSuite, out var owner) || !owner.HasWork)
                {
                    continue;
                }

                var report = owner.EndAsync().AsTask().GetAwaiter().GetResult();
                if (report.ShouldFail)
                {
                    context.CurrentResult.RecordTearDownException(LeakFailure.For(report, testAlreadyFailed: false));
                }
                else if (!report.IsClean || report.Warnings.Count > 0)
                {
                    context.CurrentResult.OutWriter.WriteLine(report.ToString());
                }
            }
        }
        catch (Exception exception)
        {
            WriteProblem(context.CurrentResult, "could not check the work its tests left to fixtures", exception);
        }
    }

    private static bool IsWithin(ITest test, ITest suite)
    {
        for (var at = test; at is not null; at = at.Parent)
        {
            if (ReferenceEquals(at, suite))
            {
                return true;
            }
        }

        return false;
    }

    private static LeakCheckPlan PlanFor(ITest test)
    {
        var method = test.Method?.MethodInfo;
        var fixture = test.TypeInfo?.Type;
        return method is not null && HasLeakCheckAttributes(method)
            ? MethodPlans.GetOrAdd((method, fixture), static key => PlanOf(LeakCheckAttributesOf(key.Method!), key.Fixture, key.Method))
            : FixturePlans.GetOrAdd((fixture, method?.DeclaringType?.Assembly), static key => PlanOf(null, key.Fixture, null, key.Assembly));
    }

    private static LeakCheckPlan PlanOf(object[]? methodLevel, Type? fixture, MethodInfo? method, Assembly? assembly = null)
    {
        var testAssembly = fixture?.Assembly ?? assembly ?? method?.DeclaringType?.Assembly;
        return LeakCheckPlan.For(
            methodLevel,
            fixture is null ? null : FixtureAttributes.GetOrAdd(fixture, LeakCheckAttributesOf),
            testAssembly is null ? null : AssemblyAttributes.GetOrAdd(testAssembly, LeakCheckAttributesOf),
            testAssembly);
    }

    // Most test methods carry no attribute of ours: IsDefined reads metadata without instantiating anything, and the
    // plan of such a method is its fixture's, decided once per fixture.
    private static bool HasLeakCheckAttributes(MethodInfo method) =>
        method.IsDefined(typeof(NoTaskLeaksAttribute), inherit: true) || method.IsDefined(typeof(AllowTaskLeaksAttribute), inherit: true);

    // Only our attributes are read (and constructed); a fixture's or an assembly's once, not once per test.
    private static object[] LeakCheckAttributesOf(ICustomAttributeProvider provider) =>
        [.. provider.GetCustomAttributes(typeof(ILeakCheckOptOut), inherit: true), .. provider.GetCustomAttributes(typeof(ILeakCheckSettings), inherit: true)];

    private static void Record(LeakReport report, TestResult result)
    {
        if (report.IsClean && !report.ShouldFail)
        {
            foreach (var warning in report.Warnings)
            {
                result.OutWriter.WriteLine("NoLeaks: " + warning);
            }

            return;
        }

        var text = report.ToString();
        result.OutWriter.WriteLine(text);

        // Warn mode leaves the result alone: an NUnit warning would turn a passing test into Warning (which runners
        // show as skipped or not executed). The report is in the test's output, the run summary lists it.
        if (!report.ShouldFail)
        {
            return;
        }

        KeepOwnOutcome(result);
        result.RecordAssertion(AssertionStatus.Failed, text);
        result.RecordTestCompletion();
    }

    // RecordTestCompletion rebuilds the result from the assertion results only. A test that failed by throwing
    // (not by an assertion) has none, so its own failure is recorded as one first, or it would be lost.
    private static void KeepOwnOutcome(TestResult result)
    {
        AssertionStatus? own = result.ResultState.Status switch
        {
            TestStatus.Failed when result.ResultState.Label == ResultState.Error.Label => AssertionStatus.Error,
            TestStatus.Failed => AssertionStatus.Failed,
            TestStatus.Warning => AssertionStatus.Warning,
            TestStatus.Inconclusive => AssertionStatus.Inconclusive,
            _ => null,
        };
        if (own is { } status && !result.AssertionResults.Any(assertion => assertion.Status == status))
        {
            result.RecordAssertion(status, result.Message, result.StackTrace);
        }
    }

    private static void WriteProblem(TestResult result, string what, Exception exception)
    {
        try
        {
            result.OutWriter.WriteLine($"NoLeaks warning: the NUnit adapter {what}: {exception.GetType().Name}: {exception.Message}");
        }
        catch (Exception)
        {
            // Nothing left to report to; the test keeps its own result.
        }
    }

    private sealed class Check
    {
        public int Depth { get; set; } = 1;

        public long Started { get; } = Stopwatch.GetTimestamp();

        public LeakScope? Scope { get; set; }
    }
}
