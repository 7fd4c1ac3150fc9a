using System.Reflection;
using NoLeaks.Xunit.Sdk;
using Xunit;
using Xunit.Sdk;

namespace NoLeaks.Xunit;

/// <summary>
/// Fails a test that leaves async work behind. Put it on a test method, a test class or the assembly
/// (<c>[assembly: NoTaskLeaks]</c>); the closest level wins. The check runs after the test class is disposed.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed partial class NoTaskLeaksAttribute : BeforeAfterTestAttribute
{
    private static int s_otherFrameworkNoted;

    /// <summary>Begins the check here only when the NoLeaks test framework is not running this test.</summary>
    public override void Before(MethodInfo methodUnderTest)
    {
        ArgumentNullException.ThrowIfNull(methodUnderTest);
        var testClass = methodUnderTest.ReflectedType ?? methodUnderTest.DeclaringType!;
        BeginFallbackCheck(
            testClass.FullName + "." + methodUnderTest.Name,
            testClass,
            methodUnderTest,
            methodUnderTest.GetCustomAttribute<FactAttribute>(inherit: true)?.Timeout ?? 0,
            warning => Console.Error.WriteLine(warning));
        if (!LeakCheckingTestFramework.IsRunning && Interlocked.Exchange(ref s_otherFrameworkNoted, 1) == 0)
        {
            Console.Error.WriteLine(OtherFrameworkNote(testClass.Assembly));
        }
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

    // Said once per run: the project's own test framework runs the tests, so NoLeaks cannot check after disposal.
    private static string OtherFrameworkNote(Assembly assembly)
    {
        string framework;
        try
        {
            framework = assembly.GetCustomAttributesData()
                .Where(attribute => typeof(ITestFrameworkAttribute).IsAssignableFrom(attribute.AttributeType)
                    && attribute.AttributeType != typeof(UseLeakCheckingTestFrameworkAttribute))
                .Select(attribute => attribute.ConstructorArguments.FirstOrDefault().Value as string ?? attribute.AttributeType.Name)
                .FirstOrDefault() ?? "xunit's own test framework";
        }
        catch (Exception)
        {
            framework = "another test framework";
        }

        return $"NoLeaks warning: {assembly.GetName().Name} runs on {framework}, not on NoLeaks' LeakCheckingTestFramework (xunit v2 "
            + "honours one test framework per assembly). [NoTaskLeaks] checks each test after its class is constructed and before "
            + "it is disposed: work the constructor starts is not seen, and work that Dispose would stop is reported as a leak. To check after disposal, derive that framework from "
            + "NoLeaks.Xunit.Sdk.LeakCheckingTestFramework and set <NoLeaksXunitTestFramework>false</NoLeaksXunitTestFramework>.";
    }
}
