using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using NoLeaks.Analysis;

namespace NoLeaks.Tracking;

/// <summary>
/// Reads a live pending task into a <see cref="PendingOperation"/>. Everything here is read by reflection from
/// runtime and compiler internals, probed per type and cached; a field that is missing makes the description
/// poorer (a type name instead of a plain name), never an exception.
/// </summary>
internal static class TaskInspector
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    // Task.m_action (.NET Core 1.0 – 11): the delegate of a delegate task or continuation task; null for promises
    // and async-method boxes. Missing: delegate tasks are named by their type.
    private static readonly FieldInfo? TaskAction = typeof(Task).GetField("m_action", Instance);

    // Task.m_continuationObject (.NET Core 1.0 – 11): a single continuation (a box, an Action, a TaskContinuation,
    // a Task) or a List<object?> of them. Missing: "awaited by" links through promises are lost; links from
    // awaiters still work.
    private static readonly FieldInfo? TaskContinuation = typeof(Task).GetField("m_continuationObject", Instance);

    // Task.m_taskScheduler (.NET Core 1.0 – 11): the scheduler a delegate task or continuation was queued to. Missing:
    // a queued task is said to wait for a thread to run on, whichever scheduler holds it.
    private static readonly FieldInfo? TaskQueuedTo = typeof(Task).GetField("m_taskScheduler", Instance);

    // Task.CancellationPromise<TResult> (.NET 6 – 11), what Task.WaitAsync returns, and its _task: the task it waits
    // on. Missing: work awaiting a WaitAsync whose task has completed is left to the grace period.
    private static readonly Type? WaitAsyncPromise = typeof(Task).GetNestedType("CancellationPromise`1", BindingFlags.NonPublic);

    private static readonly ConcurrentDictionary<Type, FieldInfo?> WaitAsyncSources = new();

    private static readonly ConcurrentDictionary<Type, TypeShape> Shapes = new();

    /// <summary>Whether all the runtime fields this inspector relies on are where it expects them.</summary>
    public static string? MissingInternals =>
        TaskAction is null ? "Task.m_action"
        : TaskContinuation is null ? "Task.m_continuationObject"
        : TaskQueuedTo is null ? "Task.m_taskScheduler"
        : WaitAsyncPromise is null || SourceFieldOf(WaitAsyncPromise.MakeGenericType(typeof(int))) is null ? "Task.CancellationPromise<TResult>._task"
        : null;

    /// <summary>
    /// True when what an operation waits on has already completed: a task, or the task a <c>WaitAsync</c> promise
    /// waits on. The runtime is delivering the resumption right now, queued or further down the stack of the very
    /// thread that completed the task: a test that resumes inline in the first of a task's continuations can end, and
    /// be checked, before the runtime runs the next continuation in the list.
    /// </summary>
    internal static bool HasCompleted(object? awaited) =>
        awaited is Task task && (task.IsCompleted || WaitAsyncSourceOf(task) is { IsCompleted: true });

    private static Task? WaitAsyncSourceOf(Task task)
    {
        var type = task.GetType();
        if (WaitAsyncPromise is null || !type.IsGenericType || type.GetGenericTypeDefinition() != WaitAsyncPromise)
        {
            return null;
        }

        return WaitAsyncSources.GetOrAdd(type, SourceFieldOf)?.GetValue(task) as Task;
    }

    private static FieldInfo? SourceFieldOf(Type promiseType) =>
        promiseType.GetField("_task", Instance) is { } field && field.FieldType == typeof(Task) ? field : null;

    public static PendingOperation Inspect(Task task, OperationRecord? record, string scopeName, string? createdBy)
    {
        var shape = ShapeOf(task.GetType());
        var keys = new List<object>(2) { task };
        object? awaited = null;
        string waitingOn;
        var kind = OperationKind.Promise;
        Type? stateMachineType = null;
        var state = -1;
        MethodBase? delegateMethod = null;
        var activity = OperationActivity.Unknown;
        var waitsOnTimer = false;
        var resuming = false;
        var holdsResumption = false;
        IReadOnlyList<object>? continuations = null;

        if (shape.StateMachineField?.GetValue(task) is IAsyncStateMachine stateMachine)
        {
            kind = OperationKind.AsyncMethod;
            stateMachineType = stateMachine.GetType();
            if (!stateMachineType.IsValueType)
            {
                // An async iterator's state machine is itself the IValueTaskSource its consumer awaits.
                keys.Add(stateMachine);
            }

            var machine = ShapeOf(stateMachineType);
            state = machine.StateField?.GetValue(stateMachine) is int s ? s : -1;
            if (state == -1)
            {
                // -1: executing its code right now (between two awaits), not suspended.
                activity = OperationActivity.Running;
                waitingOn = "nothing: it is running";
            }
            else
            {
                (awaited, waitingOn) = CurrentAwait(stateMachine, machine);
                waitsOnTimer = awaited is not null && AwaitedObjectOf(awaited).IsSystemTimer;
                resuming = HasCompleted(awaited);
            }
        }
        else if (shape.IsContinuationTask)
        {
            kind = OperationKind.Continuation;
            delegateMethod = (TaskAction?.GetValue(task) as Delegate)?.Method;
            activity = ActivityOf(task);

            // m_antecedent is cleared when the continuation starts to run.
            awaited = shape.AntecedentField?.GetValue(task);
            waitsOnTimer = awaited is not null && AwaitedObjectOf(awaited).IsSystemTimer;
            resuming = activity is OperationActivity.NotStarted && HasCompleted(awaited);
            waitingOn = activity switch
            {
                OperationActivity.Running => "nothing: it is running",
                OperationActivity.Queued => QueuedOn(task),
                _ when awaited is not null => $"its antecedent, {Describe(awaited)}",
                _ => "its antecedent",
            };
        }
        else if (RuntimeAsyncTasks.Is(task))
        {
            // A runtime-async method (.NET 11): its delegate is the runtime's DispatchContinuations, not work of its own.
            kind = OperationKind.RuntimeAsyncMethod;
            awaited = RuntimeAsyncTasks.Awaited(task);
            waitsOnTimer = awaited is not null && AwaitedObjectOf(awaited).IsSystemTimer;
            waitingOn = awaited is not null ? Describe(awaited) : "an awaiter .NET does not expose";
        }
        else if (TaskAction?.GetValue(task) is Delegate resumer && ResumedMethodBox(task, resumer) is { } resumed)
        {
            // The runtime's task that resumes an async method on a TaskScheduler of the user's: not work of its own
            // but the method's next step, so a link to the method (reported as itself), never an entry.
            waitingOn = "a thread to run on (an await continuation queued to a TaskScheduler)";
            continuations = resumed;
            holdsResumption = true;
        }
        else if (TaskAction?.GetValue(task) is Delegate action)
        {
            kind = OperationKind.DelegateTask;
            delegateMethod = action.Method;
            activity = ActivityOf(task);
            waitingOn = activity switch
            {
                OperationActivity.Running => RunningWork.StillRunning,
                OperationActivity.Queued or OperationActivity.NotStarted => QueuedOn(task),
                _ => task.Status.ToString(),
            };
        }
        else
        {
            var promise = AwaitedObjectOf(task);
            waitsOnTimer = promise.IsSystemTimer;
            waitingOn = AwaitedNames.Describe(promise);
        }

        return new PendingOperation
        {
            Keys = keys,
            Kind = kind,
            TaskId = task.Id,
            StateMachineType = stateMachineType,
            State = state,
            DelegateMethod = delegateMethod,
            AwaitedKey = awaited,
            WaitingOn = waitingOn,
            Activity = activity,
            WaitsOnTimer = waitsOnTimer,
            TimerDueTimestamp = waitsOnTimer ? TimerDue.TimestampOf(awaited ?? task) : null,
            Resuming = resuming,
            HoldsResumption = holdsResumption,
            ContinuationKeys = continuations is null ? ContinuationsOf(task) : [.. continuations, .. ContinuationsOf(task)],
            CreatedTimestamp = record?.CreatedTimestamp ?? 0,
            CreatedBy = createdBy,
            CreationStack = record?.CreationStack,
            CreatedInTest = record?.CreatedInTest,
            ScopeName = scopeName,
        };
    }

    // Task.m_stateObject (.NET Core 1.0 – 11): a delegate task's state; for the task the runtime queues to resume an
    // async method on a TaskScheduler (TaskSchedulerAwaitTaskContinuation.Run), the method's MoveNext action.
    private static readonly FieldInfo? TaskStateObject = typeof(Task).GetField("m_stateObject", Instance);

    /// <summary>
    /// The async-method box a runtime task resumes, when the task is TaskSchedulerAwaitTaskContinuation's (its delegate a
    /// lambda of that runtime type, its state the box's MoveNext action, or the runtime's wrapper around that action
    /// while task tracking is on); otherwise null.
    /// </summary>
    private static List<object>? ResumedMethodBox(Task task, Delegate action)
    {
        var owner = action.Method.DeclaringType;
        while (owner?.DeclaringType is not null && owner.Name.StartsWith('<'))
        {
            owner = owner.DeclaringType;
        }

        if (owner is null || owner.Assembly != typeof(Task).Assembly || owner.Name != "TaskSchedulerAwaitTaskContinuation")
        {
            return null;
        }

        var resumed = new List<object>(1);
        AddContinuation(TaskStateObject?.GetValue(task) as Delegate, resumed, depth: 0);

        // The wrapper also holds the task the method awaited: only the method's box is what this task resumes.
        resumed.RemoveAll(key => !(key is Task box ? ShapeOf(box.GetType()).StateMachineField is not null : IsPooledMethodBox(key)));
        return resumed.Count > 0 ? resumed : null;
    }

    /// <summary>
    /// What a queued task waits for: a thread of the pool, or its turn on a TaskScheduler of the user's, named (a
    /// scheduler that never runs what it holds is the reason it waits).
    /// </summary>
    private static string QueuedOn(Task task) =>
        TaskQueuedTo?.GetValue(task) is TaskScheduler scheduler && scheduler != TaskScheduler.Default
            ? $"its turn on the TaskScheduler {TypeNames.Display(scheduler.GetType())} (queued, not started)"
            : QueuedForPoolThread;

    /// <summary>What a task queued for a thread of the pool waits on.</summary>
    internal const string QueuedForPoolThread = "a thread to run on (queued, not started)";

    private static OperationActivity ActivityOf(Task task) => task.Status switch
    {
        TaskStatus.Running => OperationActivity.Running,
        TaskStatus.WaitingToRun => OperationActivity.Queued,
        TaskStatus.WaitingForActivation or TaskStatus.Created => OperationActivity.NotStarted,
        _ => OperationActivity.Unknown,
    };

    /// <summary>
    /// The code a pending task runs, found without reading its state: the state machine type of an async-method box
    /// (the type of the box's field, no value read), the delegate's method of a delegate task or continuation; null
    /// for a promise. Lets a scope whose pending work is all a test framework's skip the full inspection.
    /// </summary>
    public static (Type? Type, object? Key) CodeOf(Task task)
    {
        var shape = ShapeOf(task.GetType());
        if (shape.StateMachineField is { } field)
        {
            // The box of a class state machine may be typed by an interface: then the value says which.
            var type = field.FieldType.IsValueType || field.FieldType.IsSealed
                ? field.FieldType
                : field.GetValue(task)?.GetType();
            return (type, type);
        }

        if (TaskAction?.GetValue(task) is Delegate action && action.Method is { } method)
        {
            return (method.DeclaringType, method);
        }

        return (null, null);
    }

    /// <summary>What a suspended state machine waits on: the one awaiter field the compiler has not cleared.</summary>
    private static (object? Awaited, string Description) CurrentAwait(IAsyncStateMachine stateMachine, TypeShape machine)
    {
        var sawYield = false;
        foreach (var field in machine.AwaiterFields)
        {
            var awaiter = field.GetValue(stateMachine);
            if (awaiter is null)
            {
                continue;
            }

            if (awaiter is YieldAwaitable.YieldAwaiter)
            {
                sawYield = true;
                continue;
            }

            var target = FindAwaitable(awaiter, depth: 0);
            if (target is not null)
            {
                return (target, Describe(target));
            }

            if (!awaiter.GetType().IsValueType)
            {
                return (awaiter, TypeNames.Display(awaiter.GetType()));
            }
        }

        return (null, sawYield ? "Task.Yield()" : "an awaiter it does not expose");
    }

    /// <summary>The task or value-task source inside an awaiter (TaskAwaiter.m_task, ValueTaskAwaiter._value._obj …).</summary>
    private static object? FindAwaitable(object value, int depth)
    {
        if (value is Task || IsValueTaskSource(value.GetType()))
        {
            return value;
        }

        if (depth >= 3)
        {
            return null;
        }

        foreach (var field in ShapeOf(value.GetType()).AllFields)
        {
            if (field.FieldType.IsPrimitive || field.FieldType == typeof(string))
            {
                continue;
            }

            var inner = field.GetValue(value);
            if (inner is null)
            {
                continue;
            }

            var found = FindAwaitable(inner, depth + 1);
            if (found is not null)
            {
                return found;
            }
        }

        return null;
    }

    private static bool IsValueTaskSource(Type type) => ShapeOf(type).IsValueTaskSource;

    /// <summary>Names what is awaited the way the user wrote it.</summary>
    public static string Describe(object awaited) => AwaitedNames.Describe(AwaitedObjectOf(awaited));

    /// <summary>What the namer needs to know of a live awaited object.</summary>
    private static AwaitedObject AwaitedObjectOf(object awaited)
    {
        var type = awaited.GetType();
        Type? stateMachine = null;
        MethodBase? action = null;
        bool? timerIsNull = null;
        Type? timerType = null;
        string? runtimeAsyncWaitsOn = null;
        string? waitAsyncOn = null;
        if (awaited is Task runtimeAsync && RuntimeAsyncTasks.Is(runtimeAsync))
        {
            // Named by what its innermost frame awaits (itself never a runtime-async task: one chain holds them all).
            var inner = RuntimeAsyncTasks.Awaited(runtimeAsync);
            runtimeAsyncWaitsOn = inner is null || inner is Task t && RuntimeAsyncTasks.Is(t)
                ? "an awaiter .NET does not expose"
                : AwaitedNames.Describe(AwaitedObjectOf(inner));
        }
        else if (awaited is Task waitAsync && WaitAsyncSourceOf(waitAsync) is { } source)
        {
            // Task.WaitAsync(timeout or token), as SemaphoreSlim.WaitAsync(token) uses inside: named by what it waits on.
            waitAsyncOn = AwaitedNames.Describe(AwaitedObjectOf(source));
        }
        else if (awaited is Task task)
        {
            var shape = ShapeOf(type);
            stateMachine = (shape.StateMachineField?.GetValue(task) as IAsyncStateMachine)?.GetType();
            action = (TaskAction?.GetValue(task) as Delegate)?.Method;

            // DelayPromise._timer (.NET 5 – 11) is null exactly when the delay is infinite; its type says whose clock
            // it runs on (TimerQueueTimer for the system's, a TimeProvider's own timer otherwise).
            if (type.Name.StartsWith("DelayPromise", StringComparison.Ordinal) && shape.AllFields.FirstOrDefault(f => f.Name == "_timer") is { } timer)
            {
                var value = timer.GetValue(task);
                timerIsNull = value is null;
                timerType = value?.GetType();
            }
        }

        else if (ShapeOf(type).PooledStateMachineField is { } pooled)
        {
            // A pooled async method's box: named by its method, though not a task.
            stateMachine = pooled.GetValue(awaited)?.GetType();
        }

        return new AwaitedObject(type, stateMachine, action, timerIsNull, timerType) { RuntimeAsyncWaitsOn = runtimeAsyncWaitsOn, WaitAsyncOn = waitAsyncOn };
    }

    /// <summary>
    /// True for the box of an async method built with PoolingAsyncValueTaskMethodBuilder
    /// (<c>PoolingAsyncValueTaskMethodBuilder&lt;T&gt;.StateMachineBox&lt;TStateMachine&gt;</c>, .NET 6 – 11): an
    /// IValueTaskSource, not a task, reused from a pool once its result is read.
    /// </summary>
    public static bool IsPooledMethodBox(object value) => ShapeOf(value.GetType()).PooledStateMachineField is not null;

    /// <summary>The execution context a pooled method's box captured at its last await (its public field <c>Context</c>).</summary>
    public static ExecutionContext? PooledBoxContext(object box) => ShapeOf(box.GetType()).PooledContextField?.GetValue(box) as ExecutionContext;

    /// <summary>
    /// A pooled async method's box as a pending operation; null when the box holds no state machine (its method has
    /// finished and the box went back to the pool) or the method is not suspended.
    /// </summary>
    public static PendingOperation? InspectPooledMethod(object box, string scopeName)
    {
        if (ShapeOf(box.GetType()).PooledStateMachineField?.GetValue(box) is not IAsyncStateMachine stateMachine)
        {
            return null;
        }

        var machine = ShapeOf(stateMachine.GetType());
        var state = machine.StateField?.GetValue(stateMachine) is int s ? s : -1;
        if (state < 0)
        {
            // -2: finished, its result not read yet (the box is not back in the pool); -1: running right now.
            return null;
        }

        var (awaited, waitingOn) = CurrentAwait(stateMachine, machine);
        List<object> keys = stateMachine.GetType().IsValueType ? [box] : [box, stateMachine];
        return new PendingOperation
        {
            Keys = keys,
            Kind = OperationKind.AsyncMethod,
            StateMachineType = stateMachine.GetType(),
            State = state,
            AwaitedKey = awaited,
            WaitingOn = waitingOn,
            WaitsOnTimer = awaited is not null && AwaitedObjectOf(awaited).IsSystemTimer,
            TimerDueTimestamp = TimerDue.TimestampOf(awaited),
            Resuming = HasCompleted(awaited),
            ScopeName = scopeName,
        };
    }

    /// <summary>Who continues when this task completes: boxes, promises and continuation tasks.</summary>
    public static IReadOnlyList<object> ContinuationsOf(Task task)
    {
        var value = TaskContinuation?.GetValue(task);
        if (value is null)
        {
            return [];
        }

        var keys = new List<object>();
        AddContinuation(value, keys, depth: 0);
        return keys;
    }

    private static void AddContinuation(object? value, List<object> keys, int depth)
    {
        switch (value)
        {
            case null:
                return;
            case Task task:
                keys.Add(task);
                return;
            case Delegate callback:
                // A box's MoveNextAction: its target is the box.
                AddContinuation(callback.Target, keys, depth + 1);
                return;
            case not null when IsPooledMethodBox(value):
                keys.Add(value);
                return;
            case List<object?> list:
                lock (list)
                {
                    foreach (var item in list)
                    {
                        AddContinuation(item, keys, depth + 1);
                    }
                }

                return;
        }

        // TaskContinuation wrappers (AwaitTaskContinuation.m_action, ContinueWithTaskContinuation.m_task …) and, while
        // tracking is on, the wrapper around an await's continuation (AsyncMethodBuilderCore.ContinuationWrapper, in
        // System.Runtime.CompilerServices): look inside the runtime's own wrapper types for a task or a delegate.
        if (depth < 3 && value.GetType().Assembly == typeof(Task).Assembly
            && value.GetType().Namespace is "System.Threading.Tasks" or "System.Threading" or "System.Runtime.CompilerServices")
        {
            foreach (var field in ShapeOf(value.GetType()).AllFields)
            {
                if (typeof(Task).IsAssignableFrom(field.FieldType) || typeof(Delegate).IsAssignableFrom(field.FieldType))
                {
                    AddContinuation(field.GetValue(value), keys, depth + 1);
                }
            }
        }
    }

    /// <summary>
    /// The instance an async method of <paramref name="operation"/> runs on (its state machine's <c>&lt;&gt;4__this</c>),
    /// or null: a static method, a source that holds no live task (heap snapshots), a shape this runtime does not have.
    /// </summary>
    public static object? InstanceOf(PendingOperation operation)
    {
        try
        {
            return StateMachineOf(operation) is { } stateMachine ? ShapeOf(stateMachine.GetType()).ThisField?.GetValue(stateMachine) : null;
        }
        catch (Exception)
        {
            // Read while the method moves on: no instance, the report goes without it.
            return null;
        }
    }

    /// <summary>The values of the hoisted parameters and locals of an async method's state machine (not its awaiters).</summary>
    public static IEnumerable<object> HoistedOf(PendingOperation operation)
    {
        try
        {
            if (StateMachineOf(operation) is not { } stateMachine)
            {
                return [];
            }

            var values = new List<object>();
            foreach (var field in ShapeOf(stateMachine.GetType()).AllFields)
            {
                if (!field.FieldType.IsValueType && !field.Name.StartsWith("<>u__", StringComparison.Ordinal) && field.GetValue(stateMachine) is { } value)
                {
                    values.Add(value);
                }
            }

            return values;
        }
        catch (Exception)
        {
            return [];
        }
    }

    private static IAsyncStateMachine? StateMachineOf(PendingOperation operation)
    {
        if (operation.Kind != OperationKind.AsyncMethod || operation.Keys.Count == 0 || operation.Keys[0] is not { } box)
        {
            return null;
        }

        var shape = ShapeOf(box.GetType());
        return (shape.StateMachineField ?? shape.PooledStateMachineField)?.GetValue(box) as IAsyncStateMachine;
    }

    private static TypeShape ShapeOf(Type type) => Shapes.GetOrAdd(type, static t => new TypeShape(t));

    /// <summary>The fields of one type that the inspector reads, found once.</summary>
    private sealed class TypeShape
    {
        public TypeShape(Type type)
        {
            var fields = new List<FieldInfo>();
            for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
            {
                fields.AddRange(t.GetFields(Instance | BindingFlags.DeclaredOnly));
            }

            AllFields = [.. fields];

            // AsyncStateMachineBox<TStateMachine>.StateMachine (public field, .NET Core 2.1 – 11): the compiler's
            // state machine. Missing: the task is treated as a promise and named by its type.
            StateMachineField = typeof(Task).IsAssignableFrom(type)
                ? AllFields.FirstOrDefault(f => f.Name == "StateMachine" && typeof(IAsyncStateMachine).IsAssignableFrom(f.FieldType))
                : null;

            // Compiler state machines: <>1__state (the await it is suspended at) and <>u__N (its awaiters, one per
            // awaiter type, cleared on resume). Roslyn has kept these names since C# 5.
            if (typeof(IAsyncStateMachine).IsAssignableFrom(type))
            {
                StateField = AllFields.FirstOrDefault(f => f.Name == "<>1__state" && f.FieldType == typeof(int));
                AwaiterFields = AllFields.Where(f => f.Name.StartsWith("<>u__", StringComparison.Ordinal)).ToArray();

                // <>4__this: the instance an async instance method runs on (Roslyn's name since C# 5).
                ThisField = AllFields.FirstOrDefault(f => f.Name == "<>4__this");
            }

            // ContinuationTaskFromTask and friends (.NET Core 1.0 – 11) keep their antecedent in m_antecedent.
            IsContinuationTask = type.Name.StartsWith("Continuation", StringComparison.Ordinal) && typeof(Task).IsAssignableFrom(type);
            AntecedentField = IsContinuationTask ? AllFields.FirstOrDefault(f => f.Name == "m_antecedent") : null;

            // PoolingAsyncValueTaskMethodBuilder<T>.StateMachineBox<TStateMachine> (.NET 6 – 11): public fields
            // StateMachine (null once the box is back in its pool) and Context. Missing: pooled methods are found by the
            // heap source only.
            if (type.IsGenericType && type.Name.StartsWith("StateMachineBox", StringComparison.Ordinal)
                && type.DeclaringType?.Name.StartsWith("PoolingAsyncValueTaskMethodBuilder", StringComparison.Ordinal) == true)
            {
                PooledStateMachineField = AllFields.FirstOrDefault(f => f.Name == "StateMachine" && typeof(IAsyncStateMachine).IsAssignableFrom(f.FieldType));
                PooledContextField = AllFields.FirstOrDefault(f => f.Name == "Context" && f.FieldType == typeof(ExecutionContext));
            }

            IsValueTaskSource = typeof(IValueTaskSource).IsAssignableFrom(type) || type.GetInterfaces().Any(
                i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IValueTaskSource<>));
        }

        public FieldInfo[] AllFields { get; }

        public FieldInfo? StateMachineField { get; }

        public FieldInfo? StateField { get; }

        public FieldInfo[] AwaiterFields { get; } = [];

        public FieldInfo? ThisField { get; }

        public bool IsContinuationTask { get; }

        public FieldInfo? AntecedentField { get; }

        public bool IsValueTaskSource { get; }

        public FieldInfo? PooledStateMachineField { get; }

        public FieldInfo? PooledContextField { get; }
    }
}
