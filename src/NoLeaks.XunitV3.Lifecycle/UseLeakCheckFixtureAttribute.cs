using Xunit.v3;

namespace NoLeaks.Xunit.Sdk;

/// <summary>
/// Registers <see cref="LeakCheckFixture"/> for the assembly. The package adds it for you (MSBuild property
/// <c>NoLeaksXunitFixture</c>, default true); it checks nothing by itself: <c>[NoTaskLeaks]</c> does.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class UseLeakCheckFixtureAttribute : Attribute, IAssemblyFixtureAttribute
{
    /// <inheritdoc/>
    public Type AssemblyFixtureType => typeof(LeakCheckFixture);
}
