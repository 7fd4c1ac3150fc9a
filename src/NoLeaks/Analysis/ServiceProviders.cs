using NoLeaks.Tracking;

namespace NoLeaks.Analysis;

/// <summary>
/// Names the singleton of a Microsoft.Extensions.DependencyInjection <c>ServiceProvider</c> that leaked work runs on, when
/// that provider has not been disposed, with the line that built it (<see cref="ServiceProviderBuilds"/>), or the host whose
/// services they are. A provider that was disposed, a service the provider did not create, or a version of the library
/// whose fields differ: nothing is said.
/// </summary>
internal static class ServiceProviders
{
    /// <summary>
    /// "singleton `OrderCache` of a ServiceProvider that has not been disposed (built at OrderTests.cs:31): dispose the provider …",
    /// or null when no operation of the chain runs on a singleton of a live provider (innermost first).
    /// </summary>
    public static string? Describe(IEnumerable<PendingOperation> chain, AwaitSiteResolver sites)
    {
        List<(object Provider, List<object> Singletons)>? providers = null;
        foreach (var operation in chain)
        {
            if (TaskInspector.InstanceOf(operation) is not { } instance)
            {
                continue;
            }

            // Read once per leak, and only for a leak with an instance: a clean test never comes here.
            providers ??= ServiceProviderBuilds.LiveProviders().Select(p => (p, ServiceProviderBuilds.SingletonsOf(p))).ToList();
            foreach (var (provider, singletons) in providers)
            {
                if (singletons.Any(s => ReferenceEquals(s, instance)))
                {
                    return Describe(instance, provider, sites);
                }
            }
        }

        return null;
    }

    private static string? Describe(object singleton, object provider, AwaitSiteResolver sites)
    {
        // Dispose takes a provider off the live list first thing; read again, since the list was copied.
        if (ServiceProviderBuilds.IsDisposed(provider) is not false)
        {
            return null;
        }

        var name = TypeNames.Display(singleton.GetType());
        var stopsOnDispose = singleton is IDisposable or IAsyncDisposable
            ? ""
            : $"; `{name}` implements neither IDisposable nor IAsyncDisposable, so give it a Dispose that ends this work";
        if (HostBuilds.BuildingStackOfHostWith(provider) is { } hostStack)
        {
            var host = HostedServices.BuiltAt(hostStack, sites);
            var which = host.Line is null ? "a host" : host.ByFactory ? $"the host a WebApplicationFactory built at {host.Line}" : $"the host built at {host.Line}";
            var fix = host.ByFactory
                ? "dispose the WebApplicationFactory before the test ends (`await using var factory = …`, or the fixture that owns it)"
                : "dispose the host before the test ends (`using var host = …`): stopping it does not dispose its singletons";
            return $"singleton `{name}` of the services of {which}, which have not been disposed: {fix}{stopsOnDispose}";
        }

        var line = ServiceProviderBuilds.BuildingStackOf(provider) is { } stack ? HostedServices.BuiltAt(stack, sites).Line : null;
        var built = line is not null ? $" (built at {line})"
            : ServiceProviderBuilds.IsListening ? ""
            : $" ({ServiceProviderBuilds.EnvironmentVariable}=1 names the line that built it)";
        return $"singleton `{name}` of a ServiceProvider that has not been disposed{built}: dispose the provider "
            + $"(`using var provider = services.BuildServiceProvider()`) so its singletons are disposed{stopsOnDispose}";
    }
}
