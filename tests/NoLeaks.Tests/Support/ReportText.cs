using System.Globalization;
using System.Text.RegularExpressions;

namespace NoLeaks.Tests.Support;

/// <summary>Figures read back from a report's text; linked into the adapter test projects.</summary>
internal static partial class ReportText
{
    /// <summary>The grace period a failing report's headline says it waited, in seconds; null when it says none.</summary>
    public static double? GracePeriodSeconds(string report) =>
        GracePeriod().Match(report) is { Success: true } match ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;

    [GeneratedRegex(@"still pending after a grace period of (\d+\.\d\d) s")]
    private static partial Regex GracePeriod();
}
