using System.Reflection;
using Xunit.Sdk;

namespace NoLeaks.Xunit;

/// <summary>
/// Fails a test that leaves async work behind. Put it on a test method, a test class or the assembly
/// (<c>[assembly: NoTaskLeaks]</c>); the closest level wins. The check runs after the test class is disposed.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed partial class NoTaskLeaksAttribute : BeforeAfterTestAttribute
{
    /// <summary>Begins the check here only when the NoLeaks test framework is not running this test.</summary>
    public override void Before(MethodInfo methodUnderTest)
    {
        ArgumentNullException.ThrowIfNull(methodUnderTest);
        BeginFallbackCheck(
            methodUnderTest.ReflectedType?.FullName + "." + methodUnderTest.Name,
            methodUnderTest.ReflectedType ?? methodUnderTest.DeclaringType!,
            methodUnderTest,
            warning => Console.Error.WriteLine(warning));
    }

    /// <summary>Ends a check begun by <see cref="Before"/>: fails the test on a leak (before disposal).</summary>
    public override void After(MethodInfo methodUnderTest)
    {
        var outcome = EndFallbackCheck();
        if (outcome.Warning is not null)
        {
            Console.Error.WriteLine(outcome.Warning);
        }

        if (outcome.Failure is not null)
        {
            throw outcome.Failure;
        }
    }
}
