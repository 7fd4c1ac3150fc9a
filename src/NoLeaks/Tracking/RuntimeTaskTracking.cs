using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace NoLeaks.Tracking;

/// <summary>
/// The runtime's own record of pending tasks, the one debuggers show in their Tasks window.
/// Both fields are private runtime internals, probed once by reflection:
/// <list type="bullet">
/// <item><c>Task.s_asyncDebuggingEnabled</c> (static bool, .NET Core 3.0 to .NET 11 at least): when true the
/// runtime adds every new async-method box, delegate task and promise to the dictionary below.</item>
/// <item><c>Task.s_currentActiveTasks</c> (static <c>Dictionary&lt;int, Task&gt;</c>, created lazily, locked on
/// itself by the runtime): id to task, removed when the task completes.</item>
/// </list>
/// When either is missing or has another type, <see cref="UnavailableReason"/> says so and nothing is tracked.
/// On .NET 11 the runtime caches whether tracking is on (see <see cref="RequestInstrumentationResync"/>).
/// </summary>
internal sealed class RuntimeTaskTracking
{
    private readonly FieldInfo? _enabledField;
    private readonly FieldInfo? _activeTasksField;
    private Dictionary<int, Task>? _activeTasks;

    private RuntimeTaskTracking(FieldInfo? enabledField, FieldInfo? activeTasksField, string? unavailableReason)
    {
        _enabledField = enabledField;
        _activeTasksField = activeTasksField;
        UnavailableReason = unavailableReason;
    }

    /// <summary>Null when tracking works; otherwise one sentence saying why not.</summary>
    public string? UnavailableReason { get; private set; }

    public bool IsAvailable => UnavailableReason is null;

    public static RuntimeTaskTracking Probe() => Probe(typeof(Task), "s_asyncDebuggingEnabled", "s_currentActiveTasks");

    /// <summary>Probes the given type and field names; tests use other names to play a runtime that changed.</summary>
    internal static RuntimeTaskTracking Probe(Type taskType, string enabledFieldName, string activeTasksFieldName)
    {
        const BindingFlags Static = BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public;
        try
        {
            var enabled = taskType.GetField(enabledFieldName, Static);
            var active = taskType.GetField(activeTasksFieldName, Static);
            if (enabled is null || enabled.FieldType != typeof(bool) || enabled.IsInitOnly || enabled.IsLiteral)
            {
                return Unavailable($"this runtime has no writable static bool {taskType.Name}.{enabledFieldName}");
            }

            if (active is null || active.FieldType != typeof(Dictionary<int, Task>))
            {
                return Unavailable($"this runtime has no static Dictionary<int, Task> {taskType.Name}.{activeTasksFieldName}");
            }

            return new RuntimeTaskTracking(enabled, active, null);
        }
        catch (Exception e)
        {
            return Unavailable($"probing the runtime's task tracking failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Marks tracking unavailable after a self-test showed that the runtime does not record what it should.</summary>
    internal void MarkUnavailable(string reason) => UnavailableReason = reason;

    private static RuntimeTaskTracking Unavailable(string reason) =>
        new(null, null, $"runtime task tracking is unavailable: {reason}");

    /// <summary>True when the runtime's dictionary was created by NoLeaks with the creation hook.</summary>
    public bool HookInstalled { get; private set; }

    /// <summary>
    /// Switches the runtime's tracking on; tasks created from now on are recorded. With <paramref name="hook"/>, the
    /// dictionary is created first with it as comparer, when the runtime has not created one yet.
    /// </summary>
    public bool Enable(IEqualityComparer<int>? hook = null)
    {
        if (_enabledField is null)
        {
            return false;
        }

        try
        {
            // Only while tracking is off: then the runtime neither creates nor touches the dictionary.
            if (hook is not null && !(bool)_enabledField.GetValue(null)! && _activeTasksField!.GetValue(null) is null)
            {
                var withHook = new Dictionary<int, Task>(hook);
                _activeTasksField.SetValue(null, withHook);

                // The runtime creates the dictionary with a compare-exchange: check that ours is the one in place.
                if (ReferenceEquals(_activeTasksField.GetValue(null), withHook))
                {
                    _activeTasks = withHook;
                    HookInstalled = true;
                }
            }

            if (!(bool)_enabledField.GetValue(null)!)
            {
                _enabledField.SetValue(null, true);
            }

            InstrumentationResyncFailure = RequestInstrumentationResync();
            return true;
        }
        catch (Exception e)
        {
            UnavailableReason = $"runtime task tracking could not be switched on: {e.GetType().Name}: {e.Message}";
            return false;
        }
    }

    /// <summary>
    /// Null when the runtime reads <c>Task.s_asyncDebuggingEnabled</c> afresh (or was asked to, see
    /// <see cref="RequestInstrumentationResync"/>); otherwise why it could not be asked.
    /// </summary>
    public string? InstrumentationResyncFailure { get; private set; }

    /// <summary>
    /// .NET 11 decides whether a new async method is recorded from flags it caches (<c>AsyncInstrumentation.s_activeFlags</c>),
    /// computed from <c>Task.s_asyncDebuggingEnabled</c> by the first async method that needs them and again only after
    /// their <c>Synchronize</c> bit is set, as the runtime does when its TplEventSource is switched on. Switching
    /// tracking on in a process that has already run async code therefore sets that bit too, under the runtime's lock
    /// for those flags. Null when done, or when the runtime has no such cache (.NET 10 and older); otherwise why not.
    /// </summary>
    internal static string? RequestInstrumentationResync(string typeName = InstrumentationTypeName)
    {
        const BindingFlags Static = BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public;
        try
        {
            var instrumentation = typeof(Task).Assembly.GetType(typeName);
            if (instrumentation is null)
            {
                return null;
            }

            var flags = instrumentation.GetField("s_activeFlags", Static);
            var gate = instrumentation.GetField("s_lock", Static)?.GetValue(null);
            if (flags is null || flags.IsInitOnly || !flags.FieldType.IsEnum || !Enum.IsDefined(flags.FieldType, "Synchronize"))
            {
                return $"this runtime's {instrumentation.Name} has no writable flags field s_activeFlags with a Synchronize value";
            }

            var enter = gate?.GetType().GetMethod("Enter", BindingFlags.Instance | BindingFlags.Public, Type.EmptyTypes);
            var exit = gate?.GetType().GetMethod("Exit", BindingFlags.Instance | BindingFlags.Public, Type.EmptyTypes);
            if (enter is null || exit is null)
            {
                return $"this runtime's {instrumentation.Name}.s_lock is not a lock with Enter() and Exit()";
            }

            var synchronize = Convert.ToUInt64(Enum.Parse(flags.FieldType, "Synchronize"), CultureInfo.InvariantCulture);
            enter.Invoke(gate, null);
            try
            {
                var current = Convert.ToUInt64(flags.GetValue(null), CultureInfo.InvariantCulture);
                flags.SetValue(null, Enum.ToObject(flags.FieldType, current | synchronize));
            }
            finally
            {
                exit.Invoke(gate, null);
            }

            return null;
        }
        catch (Exception e)
        {
            return $"asking the runtime to re-read its async instrumentation flags failed: {e.GetType().Name}: {e.Message}";
        }
    }

    /// <summary>Where .NET 11 caches its async instrumentation flags.</summary>
    internal const string InstrumentationTypeName = "System.Runtime.CompilerServices.AsyncInstrumentation";

    /// <summary>
    /// The lock of whoever keeps records alongside the runtime's: with the hook installed, the runtime's dictionary
    /// itself (the runtime holds it whenever it calls the hook, so the hook's bookkeeping needs no lock of its own);
    /// otherwise a private object.
    /// </summary>
    public object Gate => HookInstalled && ActiveTasks() is { } active ? active : _privateGate;

    private readonly object _privateGate = new();

    /// <summary>
    /// <see cref="Find"/> for a caller that holds <see cref="Gate"/>: with the hook, that is the runtime's lock, so no
    /// lock is taken again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public Task? FindLocked(int taskId)
    {
        if (!HookInstalled)
        {
            return Find(taskId);
        }

        using (ActiveTasksHook.Lookup())
        {
            return _activeTasks!.TryGetValue(taskId, out var task) ? task : null;
        }
    }

    /// <summary><see cref="Contains"/> for a caller that holds <see cref="Gate"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool ContainsLocked(int taskId)
    {
        if (!HookInstalled)
        {
            return Contains(taskId);
        }

        using (ActiveTasksHook.Lookup())
        {
            return _activeTasks!.ContainsKey(taskId);
        }
    }

    /// <summary>
    /// Takes a task out of the runtime's record, for a caller that holds <see cref="Gate"/> with the hook installed
    /// (<see cref="StuckCheck"/>); true when it was there.
    /// </summary>
    internal bool RemoveLocked(Task task)
    {
        using (ActiveTasksHook.Lookup())
        {
            return _activeTasks!.TryGetValue(task.Id, out var recorded) && ReferenceEquals(recorded, task) && _activeTasks.Remove(task.Id);
        }
    }

    /// <summary>Puts a task taken out by <see cref="RemoveLocked"/> back, for a caller that holds <see cref="Gate"/>.</summary>
    internal void AddBackLocked(Task task)
    {
        using (ActiveTasksHook.Lookup())
        {
            _activeTasks![task.Id] = task;
        }
    }

    /// <summary>The live task with that id, when the runtime still records it as pending.</summary>
    public Task? Find(int taskId)
    {
        var active = ActiveTasks();
        if (active is null)
        {
            return null;
        }

        lock (active)
        {
            using (ActiveTasksHook.Lookup())
            {
                return active.TryGetValue(taskId, out var task) ? task : null;
            }
        }
    }

    /// <summary>Whether the runtime records a task with that id (re-entrant: the hook calls it inside the runtime's lock).</summary>
    public bool Contains(int taskId)
    {
        var active = ActiveTasks();
        if (active is null)
        {
            return false;
        }

        lock (active)
        {
            using (ActiveTasksHook.Lookup())
            {
                return active.ContainsKey(taskId);
            }
        }
    }

    /// <summary>How many tasks the runtime records as pending right now.</summary>
    public int Count()
    {
        var active = ActiveTasks();
        if (active is null)
        {
            return 0;
        }

        lock (active)
        {
            return active.Count;
        }
    }

    /// <summary>A copy of every task the runtime records as pending.</summary>
    public Task[] Snapshot()
    {
        var active = ActiveTasks();
        if (active is null)
        {
            return [];
        }

        lock (active)
        {
            return [.. active.Values];
        }
    }

    private Dictionary<int, Task>? ActiveTasks()
    {
        // The runtime creates the dictionary on first use and never replaces it, so it is read once.
        return _activeTasks ??= _activeTasksField?.GetValue(null) as Dictionary<int, Task>;
    }
}
