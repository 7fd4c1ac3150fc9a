using System.Diagnostics;
using System.Reflection;
using NoLeaks.Tracking;

namespace NoLeaks.Analysis;

/// <summary>
/// Names the hosted service (Microsoft.Extensions.Hosting's <c>IHostedService</c>) that leaked work runs in, from the
/// instances its async methods run on, with the line that built its host (<see cref="HostBuilds"/>), and says whether
/// its host was ever stopped; or the host itself when its Run is what waits. Read by name through reflection, so NoLeaks
/// references no Microsoft.Extensions package; a service of a hosting version whose fields differ is still named,
/// without the stop state or the line.
/// </summary>
internal static class HostedServices
{
    private const string HostedServiceInterface = "Microsoft.Extensions.Hosting.IHostedService";
    private const string BackgroundServiceType = "Microsoft.Extensions.Hosting.BackgroundService";
    private const string HostInterface = "Microsoft.Extensions.Hosting.IHost";
    private const string HostExtensionsType = "Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions";

    // BackgroundService._stoppingCts (Microsoft.Extensions.Hosting.Abstractions 2.1 – 10): cancelled by StopAsync and
    // by Dispose. Probed per type; missing, the stop state is not told.
    private const string StoppingSourceField = "_stoppingCts";

    // Compiled into Microsoft.AspNetCore.Mvc.Testing from shared source: runs a program's entry point on a thread of its
    // own for a WebApplicationFactory and takes the host it builds. Matched by name, nested types included.
    private const string HostFactoryResolverType = "Microsoft.Extensions.Hosting.HostFactoryResolver";

    /// <summary>
    /// "hosted service `Pinger` (a BackgroundService registered in the host built at OrderTests.cs:31) is still running: its
    /// host was never stopped …", or null when no operation of the chain runs on a hosted service or waits in a host's Run
    /// (innermost first: the service closest to the leaked work).
    /// </summary>
    public static string? Describe(IEnumerable<PendingOperation> chain, AwaitSiteResolver sites)
    {
        var operations = chain.ToList();
        foreach (var operation in operations)
        {
            if (TaskInspector.InstanceOf(operation) is { } instance && IsHostedService(instance.GetType()))
            {
                return Describe(instance, operation, sites);
            }

            // Read from the heap: the service's type and stop state, not the object, so not the host that runs it.
            if (operation.HostedService is { } read)
            {
                return Describe(read.Type, read.StoppingRequested, default, operation);
            }
        }

        // An ExecuteAsync that uses no instance member keeps no `this`; the host's own method awaiting it
        // (Host.TryExecuteBackgroundServiceAsync since .NET 8) holds the service as its parameter.
        for (var i = 1; i < operations.Count; i++)
        {
            if (operations[i].StateMachineType?.DeclaringType?.Namespace?.StartsWith("Microsoft.Extensions.Hosting", StringComparison.Ordinal) == true
                && TaskInspector.HoistedOf(operations[i]).FirstOrDefault(value => IsHostedService(value.GetType())) is { } service)
            {
                return Describe(service, operations[i - 1], sites);
            }
        }

        // A host's Run or RunAsync (WebApplication.Run, the entry point a WebApplicationFactory runs) waits in
        // WaitForShutdownAsync, which holds the host as its parameter, until the host stops.
        foreach (var operation in operations)
        {
            if (operation.StateMachineType is { DeclaringType.FullName: HostExtensionsType } machine
                && machine.Name.StartsWith("<WaitForShutdownAsync>", StringComparison.Ordinal)
                && TaskInspector.HoistedOf(operation).FirstOrDefault(value => Implements(value.GetType(), HostInterface)) is { } host)
            {
                var built = HostBuilds.BuildingStackOfHost(host) is { } stack ? BuiltAt(stack, sites) : default;
                var which = built.Line is null ? "the host" : Registered(built, "").TrimStart();
                return $"{which} (its Run or RunAsync returns only when the host stops): the host was never "
                    + $"stopped. To fix it, {StopIt(built)}";
            }
        }

        return null;
    }

    private static string Describe(object service, PendingOperation operation, AwaitSiteResolver sites)
    {
        var type = service.GetType();
        var background = BackgroundBase(type);
        var host = HostBuilds.BuildingStackOf(service) is { } stack ? BuiltAt(stack, sites) : default;
        return Describe(type, background is null ? null : StoppingRequested(service, background), host, operation);
    }

    private static string Describe(Type type, bool? stoppingRequested, (string? Line, bool ByFactory) host, PendingOperation operation)
    {
        var name = TypeNames.Display(type);
        var background = BackgroundBase(type);
        var registered = Registered(host, " registered in");
        var stopIt = StopIt(host);
        if (background is null)
        {
            return $"hosted service `{name}` (an IHostedService{registered}) still has this work running: {stopIt}, and end the work "
                + "in its StopAsync";
        }

        var method = operation.StateMachineType is { } machine ? TypeNames.AsyncMethod(machine).Display : name + ".ExecuteAsync";
        return stoppingRequested switch
        {
            false => $"hosted service `{name}` (a BackgroundService{registered}) is still running: its host was never stopped. To fix it, {stopIt}",
            true => $"hosted service `{name}` (a BackgroundService{registered}) was stopped or disposed (its stopping token is cancelled) "
                + $"but {method} has not ended: it does not observe the stopping token where it waits",
            null => $"hosted service `{name}` (a BackgroundService{registered}) is still running. To fix it, {stopIt}",
        };
    }

    /// <summary>
    /// "OrderTests.cs:31": the first line of the user's code on the stack that built the host (frames of System,
    /// Microsoft and NoLeaks skipped), null when it has none with a PDB line. <c>ByFactory</c> when a
    /// WebApplicationFactory built it by running the program's entry point (its HostFactoryResolver is on the stack): the
    /// line is then the entry point's <c>Build()</c>, not the test's.
    /// </summary>
    internal static (string? Line, bool ByFactory) BuiltAt(StackTrace stack, AwaitSiteResolver sites)
    {
        string? line = null;
        var byFactory = false;
        foreach (var frame in stack.GetFrames())
        {
            if (frame.GetMethod() is not { DeclaringType: { } type } method)
            {
                continue;
            }

            var ns = type.Namespace ?? "";
            if (ns == "Microsoft.Extensions.Hosting" && type.FullName?.StartsWith(HostFactoryResolverType, StringComparison.Ordinal) == true)
            {
                byFactory = true;
            }
            else if (line is null && !IsLibrary(ns) && sites.LineAt(method, frame.GetILOffset()) is { FilePath: not null } site)
            {
                line = $"{site.FileName}:{site.Line}";
            }
        }

        return (line, byFactory && line is not null);
    }

    private static bool IsLibrary(string ns) =>
        ns.StartsWith("System", StringComparison.Ordinal) || ns.StartsWith("Microsoft.", StringComparison.Ordinal)
        || ns == "NoLeaks.Tracking";

    /// <summary>" registered in the host built at OrderTests.cs:31" (<paramref name="prefix"/> first), or "" without a line.</summary>
    private static string Registered((string? Line, bool ByFactory) host, string prefix) =>
        host.Line is null ? ""
        : host.ByFactory ? $"{prefix} the host a WebApplicationFactory built at {host.Line}"
        : $"{prefix} the host built at {host.Line}";

    private static string StopIt((string? Line, bool ByFactory) host) =>
        host.ByFactory
            ? "dispose the WebApplicationFactory before the test ends (`await using var factory = …`, or the fixture that owns it)"
            : "stop its host before the test ends: await host.StopAsync(), or dispose the host (`await using var factory = …` for a "
                + "WebApplicationFactory)";

    /// <summary>Whether the type implements Microsoft.Extensions.Hosting's IHostedService.</summary>
    internal static bool IsHostedService(Type type) => Implements(type, HostedServiceInterface);

    private static bool Implements(Type type, string interfaceName) => type.GetInterfaces().Any(i => i.FullName == interfaceName);

    /// <summary>BackgroundService, when the type derives from it.</summary>
    internal static Type? BackgroundBase(Type type)
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
