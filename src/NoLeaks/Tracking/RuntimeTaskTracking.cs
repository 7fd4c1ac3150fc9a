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

            return true;
        }
        catch (Exception e)
        {
            UnavailableReason = $"runtime task tracking could not be switched on: {e.GetType().Name}: {e.Message}";
            return false;
        }
    }

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
