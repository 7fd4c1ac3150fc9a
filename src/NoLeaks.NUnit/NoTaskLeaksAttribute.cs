using NoLeaks.Sdk;
using NUnit.Framework;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;
using NUnit.Framework.Internal.Commands;

namespace NoLeaks.NUnit;

/// <summary>
/// Fails a test that leaves asynchronous work behind. Put it on the assembly, a fixture or a test method; the closest
/// level wins, and each test is checked once, after its TearDown (and its Dispose with <c>InstancePerTestCase</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class NoTaskLeaksAttribute : Attribute, ITestAction, IWrapSetUpTearDown, ILeakCheckSettings
{
    // NUnit builds attributes during discovery: the engine starts then, not in the first test.
    static NoTaskLeaksAttribute() => LeakCheckWarmUp.StartInBackground();

    /// <summary>How long the check waits, after TearDown, for pending work to finish, in milliseconds; default 1 s (or the suite configuration's), at most 60 s.</summary>
    public int GracePeriodMilliseconds { get; set; } = -1;

    /// <summary>Async methods allowed to outlive the test: full names <c>Namespace.Type.Method</c>, <c>*</c> as wildcard.</summary>
    public string[]? IgnoreAsyncMethods { get; set; }

    /// <summary>What a leak does: fail the test (default, unless a suite configuration says otherwise), warn, or nothing. <c>NOLEAKS_ACTION</c> overrides it.</summary>
    public LeakAction Action { get => _action ?? LeakAction.Fail; set => _action = value; }

    /// <summary>Records where each async operation was created (about 20 µs per async operation); default false.</summary>
    public bool CaptureCreationStacks { get => _captureCreationStacks ?? false; set => _captureCreationStacks = value; }

    // Null until set: a suite configuration's default holds where the attribute says nothing.
    private LeakAction? _action;
    private bool? _captureCreationStacks;

    LeakAction? ILeakCheckSettings.ActionIfSet => _action;

    bool? ILeakCheckSettings.CaptureCreationStacksIfSet => _captureCreationStacks;

    // Suites too: after a fixture's (or the assembly's) OneTimeTearDown, the work its tests handed to fixtures is checked.
    ActionTargets ITestAction.Targets => ActionTargets.Test | ActionTargets.Suite;

    // On a fixture or the assembly NUnit runs these outside SetUp, TearDown and Dispose; on a method, inside them,
    // which is why a method-level attribute also wraps SetUp and TearDown (below). Nested hooks share one check.
    void ITestAction.BeforeTest(ITest test)
    {
        if (!test.IsSuite)
        {
            TestLeakCheck.Enter(test, TestExecutionContext.CurrentContext);
        }
    }

    void ITestAction.AfterTest(ITest test)
    {
        if (test.IsSuite)
        {
            TestLeakCheck.EndFixtures(test, TestExecutionContext.CurrentContext);
        }
        else
        {
            TestLeakCheck.Exit(TestExecutionContext.CurrentContext);
        }
    }

    TestCommand ICommandWrapper.Wrap(TestCommand command) => new LeakCheckCommand(command);

    private sealed class LeakCheckCommand(TestCommand innerCommand) : DelegatingTestCommand(innerCommand)
    {
        public override TestResult Execute(TestExecutionContext context)
        {
            TestLeakCheck.Enter(Test, context);
            try
            {
                context.CurrentResult = innerCommand.Execute(context);
            }
            finally
            {
                TestLeakCheck.Exit(context);
            }

            return context.CurrentResult;
        }
    }
}
