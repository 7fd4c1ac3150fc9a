using System.Text.RegularExpressions;

namespace NoLeaks;

/// <summary>Builds the filters of <see cref="NoLeaksOptions.Ignore"/>.</summary>
public static class Ignore
{
    /// <summary>
    /// Allows leaks in which the leaked method, or any async method awaiting it, matches <paramref name="pattern"/>:
    /// a full name <c>Namespace.Type.Method</c> in which <c>*</c> stands for any run of characters.
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
    public static IReadOnlyList<LeakFilter> Defaults { get; } =
    [
        InnermostIn("Xunit."),
        InnermostIn("NUnit."),
        InnermostIn("Microsoft.Testing."),
        InnermostIn("Microsoft.VisualStudio.TestPlatform."),
        InnermostIn("Microsoft.TestPlatform."),
    ];

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

        public override bool Matches(TaskLeak leak) => leak.AwaitChain.Any(frame => _regex.IsMatch(frame.FullName));
    }

    private sealed class PredicateFilter(Func<TaskLeak, bool> predicate, string description) : LeakFilter
    {
        public override string Description => description;

        public override bool Matches(TaskLeak leak) => predicate(leak);
    }
}
