using System.Reflection;
using Xunit.v3;

namespace NoLeaks.Xunit.Sdk;

/// <summary>
/// The members of an xunit v3 test that 4.0 moved: this assembly is built against 3.2 and runs with 3.x and 4.x alike.
/// </summary>
/// <remarks>
/// xunit v3 4.0 moved <c>IXunitTest.Timeout</c> to the new base interface <c>ICoreTest</c> and <c>IXunitTestClass.Class</c>
/// to <c>ICoreTestClass</c>. A call compiled against 3.x names the 3.x interface and throws MissingMethodException with
/// 4.x (measured with 4.0.2), so both are read through whichever of the interfaces declares them in the xunit.v3.core
/// that runs. Every other member NoLeaks uses is declared where it was in 3.2.
/// </remarks>
internal static class XunitTestMembers
{
    // 3.x: IXunitTest.Timeout; 4.x: ICoreTest.Timeout. Missing: the test counts as having no time limit.
    private static readonly PropertyInfo? Timeout = DeclaredOn(typeof(IXunitTest), "Timeout");

    // 3.x: IXunitTestClass.Class; 4.x: ICoreTestClass.Class. Missing: the class the test method was read from.
    private static readonly PropertyInfo? Class = DeclaredOn(typeof(IXunitTestClass), "Class");

    /// <summary>The test's time limit in milliseconds (its <c>Timeout</c>); 0: none.</summary>
    public static int TimeoutOf(IXunitTest test) => Timeout?.GetValue(test) as int? ?? 0;

    /// <summary>The test class (for an inherited test method, the derived class that runs it).</summary>
    public static Type ClassOf(IXunitTest test) =>
        Class?.GetValue(test.TestMethod.TestClass) as Type ?? test.TestMethod.Method.ReflectedType ?? test.TestMethod.Method.DeclaringType!;

    private static PropertyInfo? DeclaredOn(Type type, string name) =>
        type.GetProperty(name) ?? type.GetInterfaces().Select(@interface => @interface.GetProperty(name)).FirstOrDefault(property => property is not null);
}
