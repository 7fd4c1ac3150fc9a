using System.Runtime.ExceptionServices;
using NoLeaks.Analysis;

namespace NoLeaks;

/// <summary>Checks a piece of code for leaked asynchronous work, outside any test-framework integration.</summary>
public static class LeakDetector
{
    /// <summary>The key under which a failing body's exception carries the leak report, when it also leaked.</summary>
    public const string ReportDataKey = "NoLeaks.Report";

    /// <summary>
    /// Runs <paramref name="body"/> in a fresh scope and returns its report. Throws <see cref="TaskLeakException"/>
    /// when it leaked and the action is <see cref="LeakAction.Fail"/>. When the body itself throws, its exception
    /// is rethrown unchanged, with the report (if it leaked) in <c>Exception.Data["NoLeaks.Report"]</c>.
    /// </summary>
    public static async Task<LeakReport> VerifyNoneAsync(Func<Task> body, NoLeaksOptions? options = null)
    {
        var report = await CheckAsync(body, options).ConfigureAwait(false);
        if (report.Action == LeakAction.Warn && !report.IsClean)
        {
            Console.Error.WriteLine(report);
        }

        report.ThrowIfFailed();
        return report;
    }

    /// <summary>
    /// Runs <paramref name="body"/> in a fresh scope and returns its report without judging it. When the body itself
    /// throws, its exception is rethrown unchanged, with the report (if it leaked) in
    /// <c>Exception.Data["NoLeaks.Report"]</c>.
    /// </summary>
    public static async Task<LeakReport> CheckAsync(Func<Task> body, NoLeaksOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        var scope = LeakScope.Begin(ScopeNameOf(body), options);
        ExceptionDispatchInfo? failure = null;
        try
        {
            await body().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = ExceptionDispatchInfo.Capture(e);
        }

        var report = await scope.EndAsync(options).ConfigureAwait(false);
        if (failure is not null)
        {
            if (!report.IsClean)
            {
                failure.SourceException.Data[ReportDataKey] = report.ToString();
            }

            failure.Throw();
        }

        return report;
    }

    private static string ScopeNameOf(Func<Task> body)
    {
        try
        {
            return TypeNames.Delegate(body.Method).Display.Replace(" (lambda)", "", StringComparison.Ordinal);
        }
        catch (Exception)
        {
            return "LeakDetector.VerifyNoneAsync";
        }
    }
}
