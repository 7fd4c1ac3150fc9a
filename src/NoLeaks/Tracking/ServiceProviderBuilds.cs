using System.Collections;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace NoLeaks.Tracking;

/// <summary>
/// Microsoft.Extensions.DependencyInjection's service providers, read by name through reflection so that NoLeaks references
/// no Microsoft.Extensions package: the providers alive and not disposed (the list its own EventSource keeps, at no cost),
/// their singletons, and, once <see cref="Listen"/> ran, the stack that built each provider (its <c>ServiceProviderBuilt</c>
/// event, raised on the building thread). Listening costs every provider built one stack capture and the descriptor text the
/// event source then writes, so it is opt-in (<see cref="NoLeaksOptions.CaptureServiceProviderLines"/>). A version whose
/// fields differ finds no provider: reports then name none.
/// </summary>
internal sealed class ServiceProviderBuilds : EventListener
{
    /// <summary>Turns <see cref="NoLeaksOptions.CaptureServiceProviderLines"/> on (1) or off (0) for a whole run.</summary>
    public const string EnvironmentVariable = "NOLEAKS_SERVICE_PROVIDER_LINES";

    private const string SourceName = "Microsoft-Extensions-DependencyInjection";
    private const string SourceType = "Microsoft.Extensions.DependencyInjection.DependencyInjectionEventSource";
    private const string BuiltEvent = "ServiceProviderBuilt";

    // DependencyInjectionEventSource's keyword of ServiceProviderBuilt (M.E.DependencyInjection 6 on; read on 8.0 and 10.0).
    private const EventKeywords ServiceProviderInitialized = (EventKeywords)0x1;

    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic;

    // DependencyInjectionEventSource._providers (M.E.DependencyInjection 8.0 and 10.0 verified): a List<WeakReference<ServiceProvider>>
    // of the providers built, from which Dispose removes its own. Missing: no provider is found.
    private const string ProvidersField = "_providers";

    // ServiceProvider._disposed (M.E.DependencyInjection 8.0 and 10.0 verified): set first thing by Dispose and DisposeAsync. Missing: a
    // provider is never called undisposed.
    private const string DisposedField = "_disposed";

    // ServiceProvider.CallSiteFactory._callSiteCache (M.E.DependencyInjection 8.0 and 10.0 verified): the call site of every service
    // resolved; a singleton's (Cache.Location Root, Kind not Constant: an instance registered by the user is not created by
    // the provider, nor disposed by it) keeps the object it created in Value. Missing: no singleton is found.
    private const string CallSiteFactoryProperty = "CallSiteFactory";
    private const string CallSiteCacheField = "_callSiteCache";

    // Every provider seen, held weakly: with the stack that built it, or none when it existed before listening began (an
    // event about it from then on, such as the one another listener's enabling writes, carries some other thread's stack).
    private static readonly ConditionalWeakTable<object, StrongBox<StackTrace?>> Seen = new();
    private static readonly object Gate = new();
    private static readonly bool? FromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable) switch
    {
        "1" => true,
        "0" => false,
        _ => null,
    };

    private static ServiceProviderBuilds? s_listener;

    // Set while this thread enables the event source, which then writes ServiceProviderBuilt again for the providers that
    // exist: those events carry the enabling stack, not the building one.
    [ThreadStatic]
    private static bool t_enabling;

    private ServiceProviderBuilds()
    {
    }

    /// <summary>Starts recording the stacks of providers built from now on when the options or the environment ask for it.</summary>
    public static void ListenIf(NoLeaksOptions options)
    {
        if ((FromEnvironment ?? options.CaptureServiceProviderLines) && Volatile.Read(ref s_listener) is null)
        {
            Listen();
        }
    }

    /// <summary>Starts recording the stacks of providers built from now on; once per process, later calls do nothing.</summary>
    internal static void Listen()
    {
        lock (Gate)
        {
            if (s_listener is not null)
            {
                return;
            }

            try
            {
                // Providers that exist now, before and after the source is enabled, are never given a stack: the events
                // about them from now on are not their builds. The listener sees every event source of the process, those
                // created later included, from its constructor on.
                MarkSeen();
                s_listener = new ServiceProviderBuilds();
                MarkSeen();
            }
            catch (Exception)
            {
                // Without the listener reports name the provider without its building line.
            }
        }
    }

    /// <summary>Whether the stacks of providers built are being recorded.</summary>
    public static bool IsListening => Volatile.Read(ref s_listener) is not null;

    /// <summary>The stack that built this provider, or null when it was built before listening or not seen.</summary>
    public static StackTrace? BuildingStackOf(object provider) => Seen.TryGetValue(provider, out var stack) ? stack.Value : null;

    private static void MarkSeen()
    {
        foreach (var provider in LiveProviders())
        {
            Seen.TryAdd(provider, new StrongBox<StackTrace?>());
        }
    }

    /// <summary>The service providers alive and not disposed, from every copy of the DI event source in the process.</summary>
    public static List<object> LiveProviders()
    {
        var providers = new List<object>();
        foreach (var source in EventSource.GetSources())
        {
            if (source.Name == SourceName && source.GetType().FullName == SourceType)
            {
                providers.AddRange(LiveProvidersOf(source));
            }
        }

        return providers;
    }

    /// <summary>Whether Dispose or DisposeAsync ran on the provider; null when this version keeps it elsewhere.</summary>
    public static bool? IsDisposed(object provider)
    {
        try
        {
            return provider.GetType().GetField(DisposedField, Instance)?.GetValue(provider) is bool disposed ? disposed : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>The singletons the provider created so far; empty when this version keeps them elsewhere.</summary>
    public static List<object> SingletonsOf(object provider)
    {
        var singletons = new List<object>();
        try
        {
            if (provider.GetType().GetProperty(CallSiteFactoryProperty, Instance)?.GetValue(provider) is not { } factory
                || factory.GetType().GetField(CallSiteCacheField, Instance)?.GetValue(factory) is not IDictionary callSites)
            {
                return singletons;
            }

            // A ConcurrentDictionary: enumerating it while it changes is safe.
            foreach (DictionaryEntry entry in callSites)
            {
                if (entry.Value is { } site && SingletonOf(site) is { } singleton)
                {
                    singletons.Add(singleton);
                }
            }
        }
        catch (Exception)
        {
            // A version of another shape: the singletons found so far.
        }

        return singletons;
    }

    private static object? SingletonOf(object callSite)
    {
        var type = callSite.GetType();
        return type.GetProperty("Kind")?.GetValue(callSite)?.ToString() is { } kind && kind != "Constant"
            && type.GetProperty("Cache")?.GetValue(callSite) is { } cache
            && cache.GetType().GetProperty("Location")?.GetValue(cache)?.ToString() == "Root"
                ? type.GetProperty("Value")?.GetValue(callSite)
                : null;
    }

    private static List<object> LiveProvidersOf(EventSource source)
    {
        var live = new List<object>();
        try
        {
            if (source.GetType().GetField(ProvidersField, Instance)?.GetValue(source) is not IList references)
            {
                return live;
            }

            object?[] copy;
            lock (references)
            {
                copy = references.Cast<object?>().ToArray();
            }

            foreach (var reference in copy)
            {
                if (reference?.GetType().GetMethod(nameof(WeakReference<object>.TryGetTarget)) is { } tryGet)
                {
                    var arguments = new object?[1];
                    if (tryGet.Invoke(reference, arguments) is true && arguments[0] is { } provider)
                    {
                        live.Add(provider);
                    }
                }
            }
        }
        catch (Exception)
        {
            // A list read while it changes, or of another shape: the providers found so far.
        }

        return live;
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name != SourceName)
        {
            return;
        }

        t_enabling = true;
        try
        {
            EnableEvents(eventSource, EventLevel.Informational, ServiceProviderInitialized);
        }
        finally
        {
            t_enabling = false;
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (t_enabling || eventData.EventName != BuiltEvent || eventData.Payload is not [int hashCode, ..] || eventData.EventSource is not { } source)
        {
            return;
        }

        try
        {
            // The event names the provider by its hash code only: recorded when exactly one live provider never seen has it,
            // never by guess. Without file information: lines are read from the PDB when a report needs them.
            var candidates = LiveProvidersOf(source).Where(p => RuntimeHelpers.GetHashCode(p) == hashCode && !Seen.TryGetValue(p, out _)).ToList();
            var stack = candidates.Count == 1 ? new StackTrace(1, fNeedFileInfo: false) : null;
            foreach (var provider in candidates)
            {
                Seen.TryAdd(provider, new StrongBox<StackTrace?>(stack));
            }
        }
        catch (Exception)
        {
            // Never thrown into the user's BuildServiceProvider(): the report goes without the line.
        }
    }
}
