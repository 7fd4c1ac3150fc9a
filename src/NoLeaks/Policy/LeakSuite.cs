using System.Collections.Concurrent;
using System.Reflection;
using NoLeaks.Reporting;

namespace NoLeaks.Policy;

/// <summary>
/// A test assembly's suite configuration (<see cref="NoLeaksConfigurationAttribute"/>): read once per assembly and
/// process, when the first test is planned. Anything wrong with it becomes a warning in every checked test's report,
/// and the defaults are used.
/// </summary>
internal sealed class LeakSuite
{
    private static readonly ConcurrentDictionary<Assembly, Lazy<LeakSuite>> Suites = new();

    private readonly NoLeaksOptions _defaults;
    private readonly SinkEntry[] _sinks;
    private readonly Action<string> _warn;

    private LeakSuite(NoLeaksOptions defaults, IReadOnlyList<ILeakFilter> filters, IReadOnlyList<ILeakReportSink> sinks, IReadOnlyList<string> warnings, Action<string>? warn)
    {
        _defaults = defaults;
        Filters = filters;
        _sinks = [.. sinks.Select(sink => new SinkEntry(sink))];
        Warnings = warnings;
        // The process's own standard error: test frameworks capture Console.Error into the output of whichever test runs.
        _warn = warn ?? RealConsole.Error;
    }

    /// <summary>No suite configuration: the defaults of <see cref="NoLeaksOptions"/>, no filters, no sinks.</summary>
    public static LeakSuite None { get; } = new(new NoLeaksOptions(), [], [], [], null);

    /// <summary>The suite's filters.</summary>
    public IReadOnlyList<ILeakFilter> Filters { get; }

    /// <summary>What went wrong reading the configuration, one line each.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The suite of <paramref name="testAssembly"/>, read on first use (once, whichever thread asks first).</summary>
    public static LeakSuite Of(Assembly? testAssembly) =>
        testAssembly is null ? None : Suites.GetOrAdd(testAssembly, static assembly => new(() => ReadOutsideTheTest(assembly))).Value;

    // The first test asks, but the configuration's own work (a sink's background loop, a service that starts a timer)
    // belongs to no test: it is read on a thread of its own that carries none of the test's execution context, so no
    // scope owns that work and NUnit's early-work adoption cannot take it for the test's.
    private static LeakSuite ReadOutsideTheTest(Assembly assembly)
    {
        var suite = None;
        var reader = new Thread(() => suite = Read(assembly)) { IsBackground = true, Name = "NoLeaks suite configuration" };
        reader.UnsafeStart();
        reader.Join();
        return suite;
    }

    /// <summary>
    /// Fresh options for one test: the suite's defaults, its filters added to <see cref="NoLeaksOptions.Ignore"/>, its
    /// warnings in the report's.
    /// </summary>
    public NoLeaksOptions NewOptions()
    {
        var options = _defaults.Clone();
        options.Ignore ??= new List<LeakFilter>();
        foreach (var filter in Filters)
        {
            options.Ignore.Add(new SuiteFilter(filter));
        }

        options.SettingWarnings = [.. options.SettingWarnings, .. Warnings];
        return options;
    }

    /// <summary>Hands a checked test's report to every sink. Never throws; a sink that throws is named once.</summary>
    public void Deliver(LeakReport report)
    {
        foreach (var entry in _sinks)
        {
            try
            {
                lock (entry)
                {
                    entry.Sink.Receive(report);
                }
            }
            catch (Exception e)
            {
                if (Interlocked.Exchange(ref entry.Warned, 1) == 0)
                {
                    Warn($"NoLeaks warning: the report sink {NameOf(entry.Sink)} threw {e.GetType().Name} ({OneLine(e.Message)}) on the report of {report.ScopeName}; it goes on receiving reports, and its later failures are not shown.");
                }
            }
        }
    }

    /// <summary>Reads the configuration class of an assembly's <see cref="NoLeaksConfigurationAttribute"/>.</summary>
    internal static LeakSuite Read(Assembly assembly)
    {
        Type? type;
        try
        {
            type = assembly.GetCustomAttribute<NoLeaksConfigurationAttribute>()?.ConfigurationType;
        }
        catch (Exception e)
        {
            return Failed($"[assembly: NoLeaksConfiguration] of {assembly.GetName().Name} could not be read: {e.GetType().Name}: {OneLine(e.Message)}");
        }

        return type is null ? None : Read(type);
    }

    /// <summary>Creates and runs a configuration class; <paramref name="warn"/> writes a sink's failure (default: standard error).</summary>
    internal static LeakSuite Read(Type type, Action<string>? warn = null)
    {
        if (!typeof(ILeakSuiteConfiguration).IsAssignableFrom(type))
        {
            return Failed($"the suite configuration {type.FullName} does not implement ILeakSuiteConfiguration (or derive from NoLeaksServiceConfiguration); the defaults were used.", warn);
        }

        ILeakSuiteConfiguration configuration;
        try
        {
            configuration = (ILeakSuiteConfiguration)Activator.CreateInstance(type)!;
        }
        catch (Exception e)
        {
            var cause = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
            return Failed($"the suite configuration {type.FullName} could not be created ({cause.GetType().Name}: {OneLine(cause.Message)}); it needs a public parameterless constructor that does not throw. The defaults were used.", warn);
        }

        var builder = new LeakSuiteBuilder();
        try
        {
            configuration.Configure(builder);
        }
        catch (Exception e)
        {
            return Failed($"the suite configuration {type.FullName} threw {e.GetType().Name} in Configure ({OneLine(e.Message)}); the defaults were used.", warn);
        }

        return new(builder.Defaults.Clone(), [.. builder.Filters.Where(f => f is not null)], [.. builder.Sinks.Where(s => s is not null)], [], warn);
    }

    private static LeakSuite Failed(string warning, Action<string>? warn = null) => new(new NoLeaksOptions(), [], [], [warning], warn);

    private void Warn(string line)
    {
        try
        {
            _warn(line);
        }
        catch (Exception)
        {
            // Nowhere left to say it; the run goes on.
        }
    }

    private static string NameOf(object instance) => instance.GetType().FullName ?? instance.GetType().Name;

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private sealed class SinkEntry(ILeakReportSink sink)
    {
        public readonly ILeakReportSink Sink = sink;
        public int Warned;
    }

    // A suite filter among NoLeaksOptions.Ignore: FilterSet names it in a warning when it throws.
    private sealed class SuiteFilter(ILeakFilter filter) : LeakFilter
    {
        public override string Description => NameOf(filter);

        public override bool Matches(TaskLeak leak) => !filter.Counts(leak);
    }
}
