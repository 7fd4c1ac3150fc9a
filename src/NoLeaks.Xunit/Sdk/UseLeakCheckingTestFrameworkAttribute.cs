using Xunit.Abstractions;
using Xunit.Sdk;

namespace NoLeaks.Xunit.Sdk;

/// <summary>
/// Selects <see cref="LeakCheckingTestFramework"/> for the assembly. The package adds it for you (MSBuild property
/// <c>NoLeaksXunitTestFramework</c>, default true); it checks nothing by itself: <c>[NoTaskLeaks]</c> does.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
[TestFrameworkDiscoverer("NoLeaks.Xunit.Sdk.UseLeakCheckingTestFrameworkAttribute+Discoverer", "NoLeaks.Xunit")]
public sealed class UseLeakCheckingTestFrameworkAttribute : Attribute, ITestFrameworkAttribute
{
    /// <summary>Tells xunit which framework type the attribute selects.</summary>
    public sealed class Discoverer : ITestFrameworkTypeDiscoverer
    {
        /// <inheritdoc/>
        public Type GetTestFrameworkType(IAttributeInfo attribute) => typeof(LeakCheckingTestFramework);
    }
}
