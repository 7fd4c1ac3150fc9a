namespace NoLeaks;

/// <summary>
/// Configures NoLeaks for a whole test assembly, named by <see cref="NoLeaksConfigurationAttribute"/>: the defaults of
/// every checked test, filters and report sinks. <c>[NoTaskLeaks]</c> still says which tests are checked, and what it
/// sets wins over the defaults.
/// </summary>
public interface ILeakSuiteConfiguration
{
    /// <summary>Sets the suite's defaults and adds its filters and sinks.</summary>
    void Configure(LeakSuiteBuilder suite);
}

/// <summary>What an <see cref="ILeakSuiteConfiguration"/> sets up for the suite.</summary>
public sealed class LeakSuiteBuilder
{
    /// <summary>
    /// The base of every checked test's options; a setting made on <c>[NoTaskLeaks]</c> wins over it, and the
    /// attribute's <c>IgnoreAsyncMethods</c> are added to <see cref="NoLeaksOptions.Ignore"/>.
    /// </summary>
    public NoLeaksOptions Defaults { get; } = new();

    /// <summary>Filters applied to every checked test's leaks, with the built-in ones and <see cref="NoLeaksOptions.Ignore"/>.</summary>
    public IList<ILeakFilter> Filters { get; } = new List<ILeakFilter>();

    /// <summary>Sinks that receive every checked test's report.</summary>
    public IList<ILeakReportSink> Sinks { get; } = new List<ILeakReportSink>();
}
