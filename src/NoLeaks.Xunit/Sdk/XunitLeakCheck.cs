using System.Collections.Concurrent;
using System.Reflection;
using NoLeaks.Sdk;

namespace NoLeaks.Xunit.Sdk;

/// <summary>
/// One test's leak check, shared by the xunit v2 and v3 adapters (the file is compiled into both): begun before the
/// test class is created, ended after it is disposed. Never throws: an unexpected problem becomes a warning.
/// </summary>
internal sealed class XunitLeakCheck
{
    private static readonly AsyncLocal<XunitLeakCheck?> CurrentCheck = new();
    private static readonly ConcurrentDictionary<(Type TestClass, MethodInfo Method), LeakCheckPlan> MethodPlans = new();
    private static readonly ConcurrentDictionary<Type, LeakCheckPlan> ClassPlans = new();
    private static readonly ConcurrentDictionary<ICustomAttributeProvider, object[]> ClassAndAssemblyAttributes = new();

    // Current while a test the hook decided not to check runs, so that the attribute's fallback does not decide (and
    // warn about the same attributes) again. Set only when there is a warning: other unchecked tests cost nothing.
    private static readonly XunitLeakCheck NotChecked = new(null, null);

    private readonly LeakScope? _scope;
    private readonly Assembly? _testAssembly;
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
    private int _timeLimitMilliseconds;

    private XunitLeakCheck(LeakScope? scope, object? owner, Assembly? testAssembly = null)
    {
        _scope = scope;
        Owner = owner;
        _testAssembly = testAssembly;
    }

    /// <summary>The check of the test running in this execution context, if any.</summary>
    public static XunitLeakCheck? Current => CurrentCheck.Value;

    /// <summary>The attribute that began a before-disposal fallback check; null for the after-disposal hook.</summary>
    public object? Owner { get; }

    /// <summary>
    /// Begins the check of a test when its attributes ask for one (and <c>NOLEAKS_ACTION</c> is not <c>off</c>).
    /// Returns null when the test is not checked; <paramref name="warning"/> says why when that is a problem. The
    /// grace period is at most the test's <paramref name="timeLimitMilliseconds"/> (its <c>Timeout</c>; 0: none).
    /// </summary>
    public static XunitLeakCheck? Begin(string testName, Type testClass, MethodInfo method, int timeLimitMilliseconds, object? owner, out string? warning)
    {
        warning = null;
        if (BeginsSeen.Value is { } seen)
        {
            seen.Value++;
        }

        try
        {
            var plan = PlanOf(testClass, method);
            if (plan.Options is not { } options || options.EffectiveAction == LeakAction.Off)
            {
                // A checked test's report carries the plan's warnings; this one has no report.
                if (plan.Warnings.Count > 0)
                {
                    warning = string.Join(Environment.NewLine, plan.Warnings.Select(line => "NoLeaks warning: " + line));
                    if (owner is null)
                    {
                        CurrentCheck.Value = NotChecked;
                    }
                }

                return null;
            }

            var check = new XunitLeakCheck(LeakScope.Begin(testName, options), owner, testClass.Assembly) { _timeLimitMilliseconds = timeLimitMilliseconds };
            CurrentCheck.Value = check;
            return check;
        }
        catch (Exception exception)
        {
            warning = $"NoLeaks could not check {testName}: {exception.GetType().Name}: {exception.Message}";
            return null;
        }
    }

    private static LeakCheckPlan PlanOf(Type testClass, MethodInfo method) =>
        HasLeakCheckAttributes(method)
            ? MethodPlans.GetOrAdd((testClass, method), static key => LeakCheckPlan.For(
                LeakCheckAttributes(key.Method), ClassAttributes(key.TestClass), ClassAttributes(key.TestClass.Assembly), key.TestClass.Assembly))
            : ClassPlans.GetOrAdd(testClass, static type => LeakCheckPlan.For(
                null, ClassAttributes(type), ClassAttributes(type.Assembly), type.Assembly));

    /// <summary>True when the attributes of the test (and <c>NOLEAKS_ACTION</c>) ask for a check. Never throws.</summary>
    public static bool IsMarked(Type testClass, MethodInfo method)
    {
        try
        {
            return PlanOf(testClass, method).Options is { } options && options.EffectiveAction != LeakAction.Off;
        }
        catch (Exception)
        {
            return false;
        }
    }

    // Counts the checks begun (or declined) below the point that set it: a runner of another library that runs its
    // tests without the attributes' Before leaves it at zero.
    private static readonly AsyncLocal<System.Runtime.CompilerServices.StrongBox<int>?> BeginsSeen = new();

    /// <summary>
    /// Runs <paramref name="run"/> (a test case's runner) and returns how many checks were begun or declined inside it.
    /// </summary>
    public static async Task<(T Result, int Begins)> CountingBegins<T>(Func<Task<T>> run)
    {
        var seen = new System.Runtime.CompilerServices.StrongBox<int>();
        BeginsSeen.Value = seen;
        var result = await run();
        return (result, seen.Value);
    }

    // Only our two attribute types are asked for, and most test methods carry neither: IsDefined reads metadata
    // without instantiating anything, and the plan of such a method is its class's, decided once per class.
    private static bool HasLeakCheckAttributes(MethodInfo method) =>
        method.IsDefined(typeof(NoTaskLeaksAttribute), inherit: true) || method.IsDefined(typeof(AllowTaskLeaksAttribute), inherit: true);

    private static object[] ClassAttributes(ICustomAttributeProvider element) => ClassAndAssemblyAttributes.GetOrAdd(element, LeakCheckAttributes);

    private static object[] LeakCheckAttributes(ICustomAttributeProvider element) =>
        [.. element.GetCustomAttributes(typeof(AllowTaskLeaksAttribute), inherit: true),
         .. element.GetCustomAttributes(typeof(NoTaskLeaksAttribute), inherit: true)];

    /// <summary>
    /// After fixtures are disposed: checks the work tests handed to them. Returns the failures their cleanup must report
    /// (the leaks still pending, each naming the test that created it); other reports go to <paramref name="inform"/>.
    /// Never throws.
    /// </summary>
    public static List<Exception> EndOwners(IEnumerable<LeakOwner> owners, Action<string> inform)
    {
        var failures = new List<Exception>();
        foreach (var owner in owners.Where(owner => owner.HasWork))
        {
            try
            {
                var report = owner.EndAsync().AsTask().GetAwaiter().GetResult();
                if (report.ShouldFail)
                {
                    failures.Add(LeakFailure.For(report, testAlreadyFailed: false));
                }
                else if (!report.IsClean || report.Warnings.Count > 0)
                {
                    inform(report.ToString());
                }
            }
            catch (Exception exception)
            {
                inform($"NoLeaks could not check the work held by {owner}: {exception.GetType().Name}: {exception.Message}");
            }
        }

        return failures;
    }

    /// <summary>Lets the check hand pending work these fixtures hold to them instead of failing the test.</summary>
    public void AttachOwners(IEnumerable<LeakOwner> owners)
    {
        if (_scope is null)
        {
            return;
        }

        try
        {
            LeakOwner.Attach(_scope, owners);
        }
        catch (Exception)
        {
            // Without owners the check still runs; fixture-held work is then reported as the test's.
        }
    }

    /// <summary>
    /// Ends the check: waits up to the grace period (blocking is safe, the grace period runs on a timer) and says
    /// what the test must do with the report. When the test already failed on its own, its failure message will list
    /// both failures: the leak's then names the report in the test's output instead of repeating it. A test skipped at
    /// run time is not checked: its report stays out of the run summary.
    /// </summary>
    public XunitLeakOutcome End(bool testAlreadyFailed, bool testSkipped = false) =>
        EndAsync(testAlreadyFailed, testSkipped).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// <see cref="End"/> for a hook the framework awaits: the grace period is waited without holding the test's thread,
    /// so code the test ended inside (a continuation that completed what the test awaited) runs to its end meanwhile.
    /// </summary>
    public ValueTask<XunitLeakOutcome> EndAsync(bool testAlreadyFailed, bool testSkipped = false)
    {
        // Synchronously, in the hook's own execution context (an async method's change would not flow back to it).
        if (ReferenceEquals(CurrentCheck.Value, this))
        {
            CurrentCheck.Value = null;
        }

        return _scope is null ? new(XunitLeakOutcome.Clean) : EndScopeAsync(_scope, testAlreadyFailed, testSkipped);
    }

    private async ValueTask<XunitLeakOutcome> EndScopeAsync(LeakScope scope, bool testAlreadyFailed, bool testSkipped)
    {
        try
        {
            var options = LeakCheckPlan.WithinTimeLimit(scope.Options, _timeLimitMilliseconds, System.Diagnostics.Stopwatch.GetElapsedTime(_started));
            var report = await scope.EndAsync(options).ConfigureAwait(false);
            if (!testSkipped)
            {
                LeakRun.Add(report, _testAssembly);
            }

            if (report.ShouldFail)
            {
                return new(LeakFailure.For(report, testAlreadyFailed), report.ToString(), null);
            }

            if (!report.IsClean)
            {
                // Warn mode: the report goes to the test's output (and so to TRX files), its first line to the warnings.
                return new(null, report.ToString(), report.ToString().Split('\n', 2)[0].TrimEnd());
            }

            return report.Warnings.Count == 0 ? XunitLeakOutcome.Clean : new(null, null, report.ToString());
        }
        catch (Exception exception)
        {
            return new(null, null, $"NoLeaks could not check {scope.Name}: {exception.GetType().Name}: {exception.Message}");
        }
    }
}

/// <summary>What a test does with its leak check: fail with <see cref="Failure"/>, print <see cref="Output"/>, warn.</summary>
internal sealed record XunitLeakOutcome(TaskLeakException? Failure, string? Output, string? Warning)
{
    /// <summary>Nothing to do.</summary>
    public static XunitLeakOutcome Clean { get; } = new(null, null, null);
}
