using System.Reflection;
using Xunit;
using Xunit.v3;

namespace NoLeaks.Xunit;

/// <summary>
/// Fails a test that leaves async work behind. Put it on a test method, a test class or the assembly
/// (<c>[assembly: NoTaskLeaks]</c>); the closest level wins. The check runs after the test class is disposed.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed partial class NoTaskLeaksAttribute : BeforeAfterTestAttribute
{
    /// <summary>Begins the check here only when the NoLeaks assembly fixture is not registered.</summary>
    public override void Before(MethodInfo methodUnderTest, IXunitTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        BeginFallbackCheck(test.TestDisplayName, test.TestMethod.TestClass.Class, test.TestMethod.Method, test.Timeout, warning => TestContext.Current.AddWarning(warning));
    }

    /// <summary>Ends a check begun by <see cref="Before"/>: fails the test on a leak (before disposal).</summary>
    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        var outcome = EndFallbackCheck();
        Sdk.LeakCheckFixture.Deliver(outcome, throwFailure: true);
    }
}
