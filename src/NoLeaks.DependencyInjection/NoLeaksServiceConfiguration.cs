using Microsoft.Extensions.DependencyInjection;

namespace NoLeaks.DependencyInjection;

/// <summary>
/// A suite configuration written as service registrations: name the derived class in
/// <c>[assembly: NoLeaksConfiguration(typeof(…))]</c>. Its <see cref="Configure(IServiceCollection)"/> runs once per
/// test process; <c>services.AddNoLeaks(options =&gt; …)</c> sets the defaults, and every registered
/// <see cref="ILeakFilter"/> and <see cref="ILeakReportSink"/> applies to the whole suite.
/// </summary>
public abstract class NoLeaksServiceConfiguration : ILeakSuiteConfiguration
{
    /// <summary>Registers the suite's settings, filters and sinks (and whatever they depend on).</summary>
    public abstract void Configure(IServiceCollection services);

    /// <summary>Builds the services and hands the suite their options, filters and sinks.</summary>
    void ILeakSuiteConfiguration.Configure(LeakSuiteBuilder suite)
    {
        var services = new ServiceCollection();
        Configure(services);

        // The provider lives as long as the test process: its singletons are the suite's filters and sinks. Disposing it
        // when the process exits lets a sink that is IDisposable flush what it holds.
        var provider = services.BuildServiceProvider();
        foreach (var setup in provider.GetServices<NoLeaksOptionsSetup>())
        {
            setup.Configure(suite.Defaults);
        }

        foreach (var filter in provider.GetServices<ILeakFilter>())
        {
            suite.Filters.Add(filter);
        }

        foreach (var sink in provider.GetServices<ILeakReportSink>())
        {
            suite.Sinks.Add(sink);
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeQuietly(provider);
    }

    private static void DisposeQuietly(ServiceProvider provider)
    {
        try
        {
            provider.Dispose();
        }
        catch (Exception e)
        {
            // The run is over; a sink that fails to close must not change its exit code.
            Console.Error.WriteLine($"NoLeaks warning: disposing the suite's services threw {e.GetType().Name} ({e.Message.ReplaceLineEndings(" ")}).");
        }
    }
}

/// <summary>One <c>AddNoLeaks</c> call's change to the suite's defaults, in the order of the calls.</summary>
internal sealed class NoLeaksOptionsSetup(Action<NoLeaksOptions> configure)
{
    public void Configure(NoLeaksOptions options) => configure(options);
}
