using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using NoLeaks.Analysis;

namespace NoLeaks.Heap;

/// <summary>An unfinished async method the GC collected, as the runtime described it.</summary>
internal sealed record AbandonedMethod(Type? StateMachineType, string TypeName, int State, long Timestamp)
{
    public PendingOperation ToPendingOperation(string scopeName) => new()
    {
        Keys = [this],
        Kind = StateMachineType is null ? OperationKind.DelegateTask : OperationKind.AbandonedAsyncMethod,
        StateMachineType = StateMachineType,
        State = State,
        WaitingOn = "nothing any more: it was garbage-collected while suspended, so its finally blocks never ran"
            + (StateMachineType is null ? $" ({TypeName})" : ""),
        CreatedTimestamp = Timestamp,
        ScopeName = scopeName,
    };
}

/// <summary>
/// Listens to the runtime's IncompleteAsyncMethod event (TplEventSource, keyword AsyncMethod 0x100, level Warning;
/// .NET Core 3.0 – 11). While it is enabled, new async-method boxes are finalizable, and the finalizer of an unfinished
/// one raises the event with the state machine's type and fields. Only boxes created after it was enabled are seen,
/// and never while runtime task tracking is on (its dictionary keeps every box alive).
/// Attribution: the event says nothing about who made the box. An event is claimed by a heap scope that began before
/// it arrived and was the only heap scope open then; when several were open, nobody claims it (a missed report, never
/// a report in the wrong test). Tests that check for abandoned methods should therefore not run in parallel.
/// </summary>
internal sealed class AbandonedMethodListener : EventListener
{
    private const EventKeywords AsyncMethodKeyword = (EventKeywords)0x100;
    private const int IncompleteAsyncMethodEventId = 27;

    private readonly ConcurrentQueue<AbandonedMethod> _events = new();

    private AbandonedMethodListener()
    {
    }

    /// <summary>Null while the event source was found; otherwise why abandoned methods cannot be reported.</summary>
    public string? UnavailableReason { get; private set; } = "the runtime's TplEventSource was not found, so abandoned async methods are not reported";

    public static AbandonedMethodListener? Start()
    {
        try
        {
            var listener = new AbandonedMethodListener();

            // The runtime creates TplEventSource lazily, on the first async operation.
            Task.Yield().GetAwaiter();
            _ = Task.CompletedTask.ContinueWith(static _ => { }, TaskScheduler.Default);
            return listener;
        }
        catch (Exception)
        {
            return null;
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "System.Threading.Tasks.TplEventSource")
        {
            UnavailableReason = null;
            EnableEvents(eventSource, EventLevel.Warning, AsyncMethodKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventId != IncompleteAsyncMethodEventId || eventData.Payload is not [string description, ..])
        {
            return;
        }

        try
        {
            _events.Enqueue(Parse(description, Stopwatch.GetTimestamp()));
        }
        catch (Exception)
        {
            // On the finalizer thread: never throw.
        }
    }

    /// <summary>The events <paramref name="mine"/> accepts; they are no one else's from now on.</summary>
    public List<AbandonedMethod> Claim(Func<AbandonedMethod, bool> mine)
    {
        var claimed = new List<AbandonedMethod>();
        {
            var keep = new List<AbandonedMethod>();
            while (_events.TryDequeue(out var method))
            {
                if (mine(method))
                {
                    claimed.Add(method);
                }
                else if (Stopwatch.GetElapsedTime(method.Timestamp) < TimeSpan.FromMinutes(1))
                {
                    keep.Add(method);
                }
            }

            foreach (var method in keep)
            {
                _events.Enqueue(method);
            }
        }

        return claimed;
    }

    /// <summary>
    /// The description is the state machine's full type name on the first line, then one "    name: value" line per
    /// field (AsyncMethodBuilderCore.GetAsyncStateMachineDescription, .NET Core 3.0 – 11).
    /// </summary>
    internal static AbandonedMethod Parse(string description, long timestamp)
    {
        var lines = description.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var typeName = lines.Length > 0 ? lines[0] : "";
        var state = -1;
        foreach (var line in lines.Skip(1))
        {
            if (line.StartsWith("<>1__state:", StringComparison.Ordinal)
                && int.TryParse(line["<>1__state:".Length..].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                state = value;
            }
        }

        return new AbandonedMethod(FindType(typeName), typeName, state, timestamp);
    }

    private static readonly ConcurrentDictionary<string, Type?> TypesByName = new(StringComparer.Ordinal);

    private static Type? FindType(string fullName) => TypesByName.GetOrAdd(fullName, static name =>
        AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(name, throwOnError: false)).FirstOrDefault(t => t is not null));
}
