using System.Reflection;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Heap;

/// <summary>
/// Where the runtime keeps the task fields the heap source reads. Offsets come from ClrMD (never hard-coded) and
/// count from the object's start (the method-table pointer). A field that is missing makes <see cref="Read"/> throw
/// <see cref="MissingFieldException"/>: the heap source is then unavailable and says which field is gone.
/// </summary>
internal sealed class TaskLayout
{
    private static readonly int PointerSize = IntPtr.Size;

    /// <summary>Task.m_taskId (.NET Core 1.0 – 11): 0 until the id is first asked for.</summary>
    public int TaskId { get; private init; }

    /// <summary>Task.m_stateFlags (.NET Core 1.0 – 11): completion bits, see <see cref="ProcessHeap.TaskStateCompletedMask"/>.</summary>
    public int StateFlags { get; private init; }

    /// <summary>Task.m_continuationObject (.NET Core 1.0 – 11): one continuation or a List&lt;object&gt; of them.</summary>
    public int ContinuationObject { get; private init; }

    /// <summary>Task.m_stateObject (.NET 5 – 11): an async-method box keeps its captured ExecutionContext here.</summary>
    public int StateObject { get; private init; }

    /// <summary>Task.m_action (.NET Core 1.0 – 11): the delegate of a delegate or continuation task.</summary>
    public int Action { get; private init; }

    /// <summary>Task.m_contingentProperties (.NET Core 1.0 – 11).</summary>
    public int ContingentProperties { get; private init; }

    /// <summary>
    /// Task.ContingentProperties.m_capturedContext (.NET Core 1.0 – 11), from the ContingentProperties object; -1 in
    /// another process that has not loaded that type.
    /// </summary>
    public int CapturedContext { get; private init; }

    private readonly Dictionary<ulong, int?> _antecedents = [];
    private ClrRuntime _runtime = null!;

    public static TaskLayout Read(ClrRuntime runtime, TargetTypes? types = null)
    {
        types ??= OwnProcessTypes.Instance;
        var task = TypeOf(runtime, types, typeof(Task));
        var contingentType = typeof(Task).GetNestedType("ContingentProperties", BindingFlags.NonPublic)
            ?? throw new MissingFieldException("Task.ContingentProperties", "(type)");
        // Another process that never needed contingent properties has not loaded their type: no task of it has any.
        var contingent = types is OwnProcessTypes ? TypeOf(runtime, types, contingentType) : types.ClrTypeOf(runtime, contingentType);
        return new TaskLayout
        {
            _runtime = runtime,
            TaskId = Offset(task, "m_taskId"),
            StateFlags = Offset(task, "m_stateFlags"),
            ContinuationObject = Offset(task, "m_continuationObject"),
            StateObject = Offset(task, "m_stateObject"),
            Action = Offset(task, "m_action"),
            ContingentProperties = Offset(task, "m_contingentProperties"),
            CapturedContext = contingent is null ? -1 : Offset(contingent, "m_capturedContext"),
        };
    }

    /// <summary>
    /// ContinuationTaskFromTask and friends (.NET Core 1.0 – 11) keep their antecedent in m_antecedent; null when a
    /// continuation type has no such field (then "waiting on its antecedent task" is all the report says).
    /// </summary>
    public int? Antecedent(ProcessHeap.TypeInfo info)
    {
        lock (_antecedents)
        {
            if (!_antecedents.TryGetValue(info.MethodTable, out var offset))
            {
                var field = _runtime.GetTypeByMethodTable(info.MethodTable)?.GetFieldByName("m_antecedent");
                _antecedents[info.MethodTable] = offset = field is null ? null : field.Offset + PointerSize;
            }

            return offset;
        }
    }

    internal static ClrType TypeOf(ClrRuntime runtime, TargetTypes types, Type type) =>
        types.ClrTypeOf(runtime, type)
        ?? throw new MissingFieldException(type.FullName, "(ClrMD cannot see the type)");

    internal static int Offset(ClrType type, string field) =>
        (type.GetFieldByName(field) ?? throw new MissingFieldException(type.Name, field)).Offset + PointerSize;
}

/// <summary>
/// Where a state-machine box keeps the state machine, its state and its awaiters. Read once per box type from
/// ClrMD's field offsets and the compiler's field names; a name that is missing leaves that offset at -1 and the
/// report poorer (no await line, no "waiting on"), never wrong.
/// </summary>
internal sealed class BoxLayout
{
    private static readonly int PointerSize = IntPtr.Size;

    /// <summary>Box.StateMachine (public field of both boxes, .NET Core 2.1 – 11), from the box's start.</summary>
    public int StateMachine { get; private set; }

    public bool StateMachineIsClass { get; private set; }

    public Type? StateMachineType { get; private set; }

    /// <summary>The compiler's &lt;&gt;1__state (Roslyn, all versions), relative to the state machine's data.</summary>
    public int State { get; private set; } = -1;

    /// <summary>The first reference in &lt;&gt;t__builder (the builder's box, m_task), relative to the state machine's data.</summary>
    public int BuilderTask { get; private set; } = -1;

    /// <summary>The compiler's &lt;&gt;u__N awaiter fields, with the offsets of the references inside each.</summary>
    public List<Awaiter> Awaiters { get; } = [];

    /// <summary>Pooling box: StateMachineBox.Context (.NET 6 – 11), the captured ExecutionContext, from the box's start.</summary>
    public int Context { get; private set; } = -1;

    /// <summary>Pooling box: _valueTaskSource._completed (ManualResetValueTaskSourceCore, .NET Core 3.0 – 10; not in 11).</summary>
    public int Completed { get; private set; } = -1;

    /// <summary>
    /// Pooling box: _valueTaskSource._continuation (.NET Core 3.0 – 11); on .NET 11 it holds the shared completion
    /// sentinel once the source completed.
    /// </summary>
    public int Continuation { get; private set; } = -1;

    /// <summary>Pooling box: _valueTaskSource._continuationState: the box awaiting this one.</summary>
    public int ContinuationState { get; private set; } = -1;

    public static BoxLayout? Read(ClrRuntime runtime, ProcessHeap.TypeInfo info, TargetTypes? types = null)
    {
        types ??= OwnProcessTypes.Instance;
        var boxType = info.Type!;
        var box = runtime.GetTypeByMethodTable(info.MethodTable);
        var stateMachineField = FieldOf(boxType, "StateMachine");
        var stateMachineClr = box?.GetFieldByName("StateMachine");
        if (box is null || stateMachineField is null || stateMachineClr is null)
        {
            return null;
        }

        var stateMachineType = stateMachineField.FieldType;
        if (stateMachineType.ContainsGenericParameters && stateMachineClr.Type is { } clrMachine)
        {
            // A box type known only by its definition (another process's, see OtherProcessTypes): the field's own type.
            stateMachineType = types.TypeOf(runtime, clrMachine.MethodTable) ?? stateMachineType;
        }

        if (stateMachineType.ContainsGenericParameters)
        {
            return null;
        }

        var layout = new BoxLayout
        {
            StateMachine = stateMachineClr.Offset + PointerSize,
            StateMachineIsClass = !stateMachineType.IsValueType,
            StateMachineType = stateMachineType.IsInterface ? null : stateMachineType,
        };

        if (info.Kind == ProcessHeap.TypeKind.PoolingBox)
        {
            layout.Context = box.GetFieldByName("Context") is { } context ? context.Offset + PointerSize : -1;
            if (box.GetFieldByName("_valueTaskSource") is { } source && FieldOf(boxType, "_valueTaskSource") is { } sourceField
                && (types.ClrTypeOf(runtime, sourceField.FieldType) ?? source.Type) is { } core)
            {
                var start = source.Offset + PointerSize;
                layout.Completed = core.GetFieldByName("_completed") is { } completed ? start + completed.Offset : -1;
                layout.ContinuationState = core.GetFieldByName("_continuationState") is { } state ? start + state.Offset : -1;
                layout.Continuation = core.GetFieldByName("_continuation") is { } continuation ? start + continuation.Offset : -1;
            }
        }

        if (layout.StateMachineType is null || (types.ClrTypeOf(runtime, stateMachineType) ?? stateMachineClr.Type) is not { } machine)
        {
            return layout;
        }

        foreach (var field in machine.Fields)
        {
            if (field.Name == "<>1__state")
            {
                layout.State = field.Offset;
            }
            else if (field.Name == "<>t__builder" && FieldOf(stateMachineType, field.Name) is { } builder)
            {
                var references = References(runtime, types, builder.FieldType, field.Type, field.Offset, 0);
                layout.BuilderTask = references.Count > 0 ? references[0] : -1;
            }
            else if (field.Name?.StartsWith("<>u__", StringComparison.Ordinal) == true && FieldOf(stateMachineType, field.Name) is { } awaiter)
            {
                var isYield = awaiter.FieldType == typeof(System.Runtime.CompilerServices.YieldAwaitable.YieldAwaiter);
                var references = awaiter.FieldType.IsValueType ? References(runtime, types, awaiter.FieldType, field.Type, field.Offset, 0) : [field.Offset];
                layout.Awaiters.Add(new Awaiter(field.Name, isYield, [.. references]));
            }
        }

        return layout;
    }

    /// <summary>
    /// Offsets of every object reference inside a value type (depth-first), from ClrMD's field offsets. ClrMD's type is
    /// the type's own in the target, else the field's (<paramref name="fieldType"/>: a generic struct of another process).
    /// </summary>
    private static List<int> References(ClrRuntime runtime, TargetTypes types, Type type, ClrType? fieldType, int start, int depth)
    {
        if (!type.IsValueType)
        {
            return [start];
        }

        var found = new List<int>();
        if (depth > 4 || type.IsPrimitive || type.IsEnum || (types.ClrTypeOf(runtime, type) ?? fieldType) is not { } clr)
        {
            return found;
        }

        foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (clr.GetFieldByName(field.Name) is { } clrField)
            {
                found.AddRange(References(runtime, types, field.FieldType, clrField.Type, start + clrField.Offset, depth + 1));
            }
        }

        return found;
    }

    private static FieldInfo? FieldOf(Type type, string name)
    {
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (t.GetField(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly) is { } field)
            {
                return field;
            }
        }

        return null;
    }

    internal sealed record Awaiter(string Name, bool IsYield, int[] References);
}
