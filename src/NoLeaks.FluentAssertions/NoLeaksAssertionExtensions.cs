using FluentAssertions;
using FluentAssertions.Execution;
using FluentAssertions.Specialized;

namespace NoLeaks.FluentAssertions;

/// <summary>FluentAssertions for leaked asynchronous work: <c>await act.Should().NotLeakTasksAsync();</c></summary>
public static class NoLeaksAssertionExtensions
{
    /// <summary>
    /// Runs the asserted function in a fresh <see cref="LeakScope"/> and fails when it leaves async work behind.
    /// The function's own exception propagates unchanged.
    /// </summary>
    public static async Task<AndWhichConstraint<NonGenericAsyncFunctionAssertions, LeakReport>> NotLeakTasksAsync(
        this NonGenericAsyncFunctionAssertions assertions, NoLeaksOptions? options = null, string because = "", params object[] becauseArgs)
    {
        ArgumentNullException.ThrowIfNull(assertions);
        var report = await LeakDetector.CheckAsync(assertions.Subject, options).ConfigureAwait(false);
        Execute.Assertion
            .BecauseOf(because, becauseArgs)
            .ForCondition(!report.ShouldFail)
            .FailWith("Expected {context:function} not to leave async work behind{reason}, but it did." + Environment.NewLine + Escape(report.ToString()));
        return new AndWhichConstraint<NonGenericAsyncFunctionAssertions, LeakReport>(assertions, report);
    }

    // FluentAssertions formats its message with string.Format: the report's own braces must not be read as placeholders.
    private static string Escape(string text) => text.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal);
}
