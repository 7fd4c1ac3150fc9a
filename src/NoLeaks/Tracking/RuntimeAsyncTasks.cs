using System.Reflection;

namespace NoLeaks.Tracking;

/// <summary>
/// The tasks of "runtime async" methods (.NET 11): methods the runtime suspends itself, with no compiler state machine.
/// .NET 11's own libraries are compiled this way (a pending <c>PipeStream.ReadAsync</c>, for one), and user code can
/// opt in. Such a method's task is an <c>AsyncHelpers.RuntimeAsyncTask&lt;T&gt;</c> whose delegate is the runtime's
/// <c>DispatchContinuations</c>: not queued work, but a suspended method. Everything here is a runtime internal,
/// probed once by reflection:
/// <list type="bullet">
/// <item><c>System.Runtime.CompilerServices.AsyncHelpers+RuntimeAsyncTask`1</c> (.NET 11; absent on .NET 10): the
/// task type. Missing: runtime-async tasks are not recognised (a runtime without them has none).</item>
/// <item><c>Task.m_stateObject</c> of such a task, while it is suspended: the continuation the runtime registered with
/// what the innermost frame awaits. Two of its kinds are read, each by a field declared on that type itself:
/// <c>AsyncHelpers+ValueTaskSourceContinuation.Source</c> (an <c>IValueTaskSource</c>: a socket, a channel …) and
/// <c>RuntimeAsyncTaskContinuation.Task</c> (a task). Missing or another kind: "an awaiter .NET does not expose".</item>
/// </list>
/// Nothing else of a continuation is read: the frames of the chain (<c>Continuation.Next</c> and on) are objects of
/// types the runtime creates at run time; on 11.0.0 <c>GetType()</c> throws for them and reading
/// <c>Continuation.Next</c> by reflection crashes the process. So the runtime-async method itself is not named; the
/// method awaiting it (a state machine's, or the caller's await line) is.
/// </summary>
internal static class RuntimeAsyncTasks
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
    private const string CompilerServices = "System.Runtime.CompilerServices.";

    private static readonly Type? TaskType = typeof(object).Assembly.GetType(CompilerServices + "AsyncHelpers+RuntimeAsyncTask`1");

    // Task.m_stateObject (.NET Core 1.0 – 11).
    private static readonly FieldInfo? TaskStateObject = typeof(Task).GetField("m_stateObject", Instance);

    private static readonly FieldInfo? ValueTaskSourceField = DeclaredField(CompilerServices + "AsyncHelpers+ValueTaskSourceContinuation", "Source");

    private static readonly FieldInfo? AwaitedTaskField = DeclaredField(CompilerServices + "RuntimeAsyncTaskContinuation", "Task");

    /// <summary>Whether this runtime has runtime-async tasks at all.</summary>
    public static bool RuntimeHasThem => TaskType is not null;

    /// <summary>
    /// Null when this runtime has no runtime-async tasks, or has them with every internal above where it is expected;
    /// otherwise which one is missing (the runtime changed: what they wait on is no longer named).
    /// </summary>
    public static string? MissingInternals =>
        TaskType is null ? null
        : TaskStateObject is null ? "Task.m_stateObject"
        : ValueTaskSourceField is null ? "AsyncHelpers.ValueTaskSourceContinuation.Source"
        : AwaitedTaskField is null ? "RuntimeAsyncTaskContinuation.Task"
        : null;

    /// <summary>True for the task of a runtime-async method.</summary>
    public static bool Is(Task task) => Is(task.GetType());

    /// <summary>True for the type of a runtime-async method's task.</summary>
    public static bool Is(Type type) => TaskType is not null && type.IsGenericType && type.GetGenericTypeDefinition() == TaskType;

    /// <summary>
    /// What a suspended runtime-async method's innermost frame awaits: an <c>IValueTaskSource</c> or a task, or null when
    /// it awaits something else (a custom awaiter), is running or has finished.
    /// </summary>
    public static object? Awaited(Task task)
    {
        // Only the two continuation types probed above are touched, by their own fields: `is` tests the value's type
        // without GetType(), which throws for a continuation of a type the runtime created.
        var leaf = TaskStateObject?.GetValue(task);
        if (leaf is null)
        {
            return null;
        }

        if (ValueTaskSourceField is { } source && source.DeclaringType!.IsInstanceOfType(leaf))
        {
            return source.GetValue(leaf);
        }

        return AwaitedTaskField is { } awaited && awaited.DeclaringType!.IsInstanceOfType(leaf) ? awaited.GetValue(leaf) : null;
    }

    private static FieldInfo? DeclaredField(string typeName, string fieldName) =>
        typeof(object).Assembly.GetType(typeName)?.GetField(fieldName, Instance | BindingFlags.DeclaredOnly);
}
