using System.Text.RegularExpressions;

namespace NoLeaks;

/// <summary>Builds the filters of <see cref="NoLeaksOptions.Ignore"/>.</summary>
public static class Ignore
{
    /// <summary>The namespaces of the test frameworks' own machinery, whose work the built-in filters allow.</summary>
    internal static readonly string[] FrameworkNamespaces =
        ["Xunit.", "NUnit.", "Microsoft.Testing.", "Microsoft.VisualStudio.TestPlatform.", "Microsoft.TestPlatform."];

    /// <summary>
    /// Allows leaks in which the leaked method, or any async method awaiting it, matches <paramref name="pattern"/>:
    /// a full name <c>Namespace.Type.Method</c>, or the name a report shows (<c>Type.Method</c>,
    /// <c>Type.Method (lambda)</c>), in which <c>*</c> stands for any run of characters.
    /// </summary>
    public static LeakFilter AsyncMethod(string pattern)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        return new MethodPatternFilter(pattern);
    }

    /// <summary>Allows the leaks for which <paramref name="predicate"/> returns true.</summary>
    public static LeakFilter Where(Func<TaskLeak, bool> predicate, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        return new PredicateFilter(predicate, description ?? "a custom predicate");
    }

    /// <summary>
    /// The built-in filters: work whose innermost method belongs to the runtime's or a test framework's own
    /// machinery (xunit, NUnit, Microsoft.Testing.Platform, VSTest).
    /// </summary>
    public static IReadOnlyList<LeakFilter> Defaults { get; } = [.. FrameworkNamespaces.Select(InnermostIn)];

    /// <summary>
    /// True when code of this type can only be a test framework's: the cheap test that lets a scope whose pending
    /// work is all the framework's skip the analysis (xunit v2 leaves a worker task pending after half its tests).
    /// </summary>
    internal static bool IsFrameworkCode(Type type) => FrameworkCodeTypes.GetOrAdd(type, static t => IsInFrameworkNamespace(t));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, bool> FrameworkCodeTypes = new();

    private static bool IsInFrameworkNamespace(Type type)
    {
        var ns = type.Namespace;
        if (ns is null)
        {
            return false;
        }

        foreach (var prefix in FrameworkNamespaces)
        {
            if ((ns + ".").StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static LeakFilter InnermostIn(string namespacePrefix) =>
        new PredicateFilter(
            leak => leak.MethodFullName.StartsWith(namespacePrefix, StringComparison.Ordinal),
            $"work of {namespacePrefix}* (built in)");

    private sealed class MethodPatternFilter(string pattern) : LeakFilter
    {
        private readonly Regex _regex = new(
            "^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant);

        public override string Description => $"Ignore.AsyncMethod(\"{pattern}\")";

        // The full name (Shop.OrderQueue.PumpAsync, which also covers its lambdas), the name a report's headline shows
        // (OrderQueue.PumpAsync, OrderTests.Saves_order (lambda)) and the full name of a lambda
        // (Shop.OrderTests.Saves_order (lambda)) are all patterns that match.
        public override bool Matches(TaskLeak leak) => leak.AwaitChain.Any(
            frame => _regex.IsMatch(frame.FullName) || _regex.IsMatch(frame.Method) || _regex.IsMatch(frame.QualifiedMethod));
    }

    private sealed class PredicateFilter(Func<TaskLeak, bool> predicate, string description) : LeakFilter
    {
        public override string Description => description;

        public override bool Matches(TaskLeak leak) => predicate(leak);
    }
}
