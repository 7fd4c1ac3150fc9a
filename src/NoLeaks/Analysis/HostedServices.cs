using System.Reflection;
using NoLeaks.Tracking;

namespace NoLeaks.Analysis;

/// <summary>
/// Names the hosted service (Microsoft.Extensions.Hosting's <c>IHostedService</c>) that leaked work runs in, from the
/// instances its async methods run on, and says whether its host was ever stopped. Read by name through reflection,
/// so NoLeaks references no Microsoft.Extensions package; a service of a hosting version whose fields differ is still
/// named, without the stop state.
/// </summary>
internal static class HostedServices
{
    private const string HostedServiceInterface = "Microsoft.Extensions.Hosting.IHostedService";
    private const string BackgroundServiceType = "Microsoft.Extensions.Hosting.BackgroundService";

    // BackgroundService._stoppingCts (Microsoft.Extensions.Hosting.Abstractions 2.1 – 10): cancelled by StopAsync and
    // by Dispose. Probed per type; missing, the stop state is not told.
    private const string StoppingSourceField = "_stoppingCts";

    /// <summary>
    /// "hosted service `Pinger` (a BackgroundService) is still running: its host was never stopped …", or null when no
    /// operation of the chain runs on a hosted service (innermost first: the service closest to the leaked work).
    /// </summary>
    public static string? Describe(IEnumerable<PendingOperation> chain)
    {
        var operations = chain.ToList();
        foreach (var operation in operations)
        {
            if (TaskInspector.InstanceOf(operation) is { } instance && IsHostedService(instance.GetType()))
            {
                return Describe(instance, operation);
            }
        }

        // An ExecuteAsync that uses no instance member keeps no `this`; the host's own method awaiting it
        // (Host.TryExecuteBackgroundServiceAsync since .NET 8) holds the service as its parameter.
        for (var i = 1; i < operations.Count; i++)
        {
            if (operations[i].StateMachineType?.DeclaringType?.Namespace?.StartsWith("Microsoft.Extensions.Hosting", StringComparison.Ordinal) == true
                && TaskInspector.HoistedOf(operations[i]).FirstOrDefault(value => IsHostedService(value.GetType())) is { } service)
            {
                return Describe(service, operations[i - 1]);
            }
        }

        return null;
    }

    private static string Describe(object service, PendingOperation operation)
    {
        var type = service.GetType();
        var name = TypeNames.Display(type);
        var background = BackgroundBase(type);
        if (background is null)
        {
            return $"hosted service `{name}` (an IHostedService) still has this work running: stop its host before the test ends "
                + "(await host.StopAsync(), or dispose the host or factory), and end the work in its StopAsync";
        }

        var method = operation.StateMachineType is { } machine ? TypeNames.AsyncMethod(machine).Display : name + ".ExecuteAsync";
        return StoppingRequested(service, background) switch
        {
            false => $"hosted service `{name}` (a BackgroundService) is still running: its host was never stopped. Stop it before the "
                + "test ends: await host.StopAsync() or dispose the host (`await using var factory = …` for a WebApplicationFactory)",
            true => $"hosted service `{name}` (a BackgroundService) was stopped or disposed (its stopping token is cancelled) but {method} "
                + "has not ended: it does not observe the stopping token where it waits",
            null => $"hosted service `{name}` (a BackgroundService) is still running. Stop its host before the test ends: await "
                + "host.StopAsync() or dispose the host",
        };
    }

    private static bool IsHostedService(Type type) =>
        type.GetInterfaces().Any(i => i.FullName == HostedServiceInterface);

    private static Type? BackgroundBase(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (t.FullName == BackgroundServiceType)
            {
                return t;
            }
        }

        return null;
    }

    /// <summary>Whether StopAsync or Dispose ran on the service; null when this hosting version keeps it elsewhere.</summary>
    internal static bool? StoppingRequested(object service, Type background)
    {
        var field = background.GetField(StoppingSourceField, BindingFlags.Instance | BindingFlags.NonPublic);
        if (field is null || !typeof(CancellationTokenSource).IsAssignableFrom(field.FieldType))
        {
            return null;
        }

        try
        {
            return field.GetValue(service) is CancellationTokenSource source ? source.IsCancellationRequested : null;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }
}
