namespace NoLeaks;

/// <summary>
/// Names the class that configures NoLeaks for every test of this assembly: an <see cref="ILeakSuiteConfiguration"/>
/// (or, with NoLeaks.DependencyInjection, a <c>NoLeaksServiceConfiguration</c>) with a public parameterless
/// constructor. It is created and run once per test process, before the first checked test.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class NoLeaksConfigurationAttribute(Type configurationType) : Attribute
{
    /// <summary>The configuration class.</summary>
    public Type ConfigurationType { get; } = configurationType;
}
