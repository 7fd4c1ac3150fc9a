using NoLeaks.Sdk;

namespace NoLeaks.NUnit;

/// <summary>Turns the leak check off for a test, a fixture or the assembly, with the reason why.</summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class AllowTaskLeaksAttribute(string reason) : Attribute, ILeakCheckOptOut
{
    /// <summary>Why the test may leave work behind.</summary>
    public string Reason { get; } = reason;
}
