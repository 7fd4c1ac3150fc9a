using System.Collections;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace NoLeaks.Tracking;

/// <summary>
/// Where each Microsoft.Extensions.Hosting host was built: the stack of the thread that built it, taken when the host
/// raises its <c>HostBuilt</c> diagnostic event (<c>HostBuilder.Build</c>, <c>HostApplicationBuilder.Build</c> and so
/// <c>WebApplicationBuilder.Build</c>, .NET 6 on). Only hosts pay: one stack capture per host built, tens of
/// microseconds against the milliseconds a build takes; a test that builds no host pays nothing. Hosts are held weakly.
/// </summary>
internal sealed class HostBuilds : IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
{
    private const string ListenerName = "Microsoft.Extensions.Hosting";
    private const string HostBuiltEvent = "HostBuilt";

    // Microsoft.Extensions.Hosting.Internal.Host._hostedServices (Microsoft.Extensions.Hosting 6 – 10): the hosted
    // services StartAsync resolved, null before it. Probed per host type; missing, no host is found for a service and the
    // report goes without the building line.
    private const string HostedServicesField = "_hostedServices";

    private const string WrappedHostField = "_host";

    private static readonly HostBuilds Instance = new();
    private static readonly ConditionalWeakTable<object, StackTrace> Stacks = new();
    private static int s_listening;

    private HostBuilds()
    {
    }

    /// <summary>Starts recording hosts built from now on; once per process, later calls do nothing.</summary>
    public static void Listen()
    {
        if (Interlocked.Exchange(ref s_listening, 1) != 0)
        {
            return;
        }

        try
        {
            DiagnosticListener.AllListeners.Subscribe(Instance);
        }
        catch (Exception)
        {
            // Without the subscription reports name hosted services without their host's line.
        }
    }

    /// <summary>The stack that built the host running this hosted service, or null when no recorded host runs it.</summary>
    public static StackTrace? BuildingStackOf(object hostedService)
    {
        foreach (var (host, stack) in Stacks)
        {
            if (HostedServicesOf(host) is { } services && services.Cast<object>().Any(s => ReferenceEquals(s, hostedService)))
            {
                return stack;
            }
        }

        return null;
    }

    /// <summary>
    /// The stack that built this host, or the host a WebApplication wraps (its <c>_host</c> field, ASP.NET Core 6 – 10:
    /// HostBuilt reports the inner host); null when it was not recorded.
    /// </summary>
    public static StackTrace? BuildingStackOfHost(object host)
    {
        if (Stacks.TryGetValue(host, out var stack))
        {
            return stack;
        }

        try
        {
            return host.GetType().GetField(WrappedHostField, BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(host) is { } inner
                && Stacks.TryGetValue(inner, out var innerStack) ? innerStack : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>The hosted services a started host runs; null before it started or when the host keeps them elsewhere.</summary>
    internal static IEnumerable? HostedServicesOf(object host)
    {
        try
        {
            return host.GetType().GetField(HostedServicesField, BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(host) as IEnumerable;
        }
        catch (Exception)
        {
            return null;
        }
    }

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name == ListenerName)
        {
            listener.Subscribe(this, static name => name == HostBuiltEvent);
        }
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> value)
    {
        if (value.Key != HostBuiltEvent || value.Value is not { } host)
        {
            return;
        }

        try
        {
            // Without file information: lines are read from the PDB when a report needs them.
            Stacks.AddOrUpdate(host, new StackTrace(1, fNeedFileInfo: false));
        }
        catch (Exception)
        {
            // Never thrown into the user's Build(): the report goes without the line.
        }
    }

    void IObserver<DiagnosticListener>.OnCompleted()
    {
    }

    void IObserver<DiagnosticListener>.OnError(Exception error)
    {
    }

    void IObserver<KeyValuePair<string, object?>>.OnCompleted()
    {
    }

    void IObserver<KeyValuePair<string, object?>>.OnError(Exception error)
    {
    }
}
