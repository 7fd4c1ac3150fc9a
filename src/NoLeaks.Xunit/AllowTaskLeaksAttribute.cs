using NoLeaks.Sdk;

namespace NoLeaks.Xunit;

/// <summary>Lets a test class or test method leave async work behind, for a stated reason; it is then not checked.</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class AllowTaskLeaksAttribute : Attribute, ILeakCheckOptOut
{
    /// <summary>Allows leaks, saying why.</summary>
    public AllowTaskLeaksAttribute(string reason) => Reason = reason;

    /// <summary>Why the test may leak.</summary>
    public string Reason { get; }
}
