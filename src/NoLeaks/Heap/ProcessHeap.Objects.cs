using System.Reflection;
using Microsoft.Diagnostics.Runtime;
using NoLeaks.Analysis;

namespace NoLeaks.Heap;

/// <summary>Reading single objects of a snapshot, through ClrMD, under the heap's lock.</summary>
internal sealed partial class ProcessHeap
{
    private const BindingFlags AllMembers = BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    /// <summary>Runs <paramref name="read"/> while no snapshot is being taken.</summary>
    public T Locked<T>(Func<T> read)
    {
        lock (_gate)
        {
            return read();
        }
    }

    /// <summary>
    /// The id of the <see cref="LeakScope"/> a captured ExecutionContext carries, or 0. ExecutionContext.m_localValues
    /// (.NET Core 2.0 – 11) is an IAsyncLocalValueMap: One/Two/Three/FourElementAsyncLocalValueMap keep values in
    /// fields, MultiElementAsyncLocalValueMap in a KeyValuePair array; any of them is searched two levels deep for an
    /// object of LeakScope's type. Missing field: 0, the work is not attributed (the scope reports nothing for it).
    /// </summary>
    public long ScopeIdIn(ulong context)
    {
        var values = ObjectField(ObjectAt(context), "m_localValues");
        return values.IsValid ? FindScope(values.Address, depth: 0) : 0;
    }

    /// <summary>True when a captured ExecutionContext carries no AsyncLocal value at all (the default context).</summary>
    public bool IsEmptyContext(ulong context)
    {
        var value = ObjectAt(context);
        return value.IsValid && !ObjectField(value, "m_localValues").IsValid;
    }

    private long FindScope(ulong address, int depth)
    {
        var info = InfoAt(address);
        if (info is null)
        {
            return 0;
        }

        if (info.Type == typeof(LeakScope))
        {
            // LeakScope.Id, our own field.
            return ObjectAt(address) is { IsValid: true } scope ? scope.ReadField<long>(nameof(LeakScope.Id)) : 0;
        }

        if (depth >= 2 || info.Type is null || info.Type == typeof(string))
        {
            return 0;
        }

        foreach (var reference in ObjectAt(address).EnumerateReferenceAddresses(carefully: true, considerDependantHandles: false))
        {
            if (FindScope(reference, depth + 1) is var id and not 0)
            {
                return id;
            }
        }

        return 0;
    }

    /// <summary>The method of a delegate object, as a live MethodBase, or null.</summary>
    public MethodBase? MethodOfDelegate(ulong address)
    {
        var value = ObjectAt(address);
        if (!value.IsValid || !value.IsDelegate)
        {
            return null;
        }

        // GetDelegateTarget reads _target through ClrMD: only when it is an object this class has validated (or null).
        if (!ObjectFieldIsReadable(value, "_target") || value.AsDelegate().GetDelegateTarget()?.Method is not { } method
            || method.Type is null || TypeOfMethodTable(method.Type.MethodTable) is not { } type)
        {
            return MethodOfDelegateByEntryPoint(address);
        }

        return MethodsOf(type).FirstOrDefault(m => m.MetadataToken == method.MetadataToken);
    }

    /// <summary>
    /// The method of a delegate the runtime's data access layer could not name: before .NET 10 it names no method from
    /// the entry point of one that has never run (a lambda of a continuation that never started). Delegate._methodPtr
    /// and _methodPtrAux (.NET Core 1.0 – 11) are compared with the entry point of every method of the target's type
    /// (a closure or a lambda cache, in this process): only an exact match names it, otherwise null. Not for another
    /// process or a dump: its entry points are not this process's.
    /// </summary>
    public MethodBase? MethodOfDelegateByEntryPoint(ulong address)
    {
        if (!_inProcess)
        {
            return null;
        }

        var value = ObjectAt(address);
        if (!value.IsValid || !value.IsDelegate || ObjectField(value, "_target") is not { IsValid: true } target || TypeAt(target.Address) is not { } type)
        {
            return null;
        }

        var pointers = new[] { "_methodPtr", "_methodPtrAux" }
            .Select(name => value.Type?.GetFieldByName(name) is { } field ? (nint)field.Read<long>(value.Address, interior: false) : 0)
            .Where(pointer => pointer != 0)
            .ToArray();
        if (pointers.Length == 0)
        {
            return null;
        }

        foreach (var method in MethodsOf(type))
        {
            nint entry;
            try
            {
                entry = method.MethodHandle.GetFunctionPointer();
            }
            catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException)
            {
                continue; // An open generic or abstract method has no entry point of its own.
            }

            if (pointers.Contains(entry))
            {
                return method;
            }
        }

        return null;
    }

    private static IEnumerable<MethodBase> MethodsOf(Type type) =>
        type.GetMethods(AllMembers).Cast<MethodBase>().Concat(type.GetConstructors(AllMembers));

    /// <summary>Names the object at an address the way the tracking source names a live one.</summary>
    public string DescribeAwaited(HeapSnapshot snapshot, ulong address) =>
        AwaitedObjectAt(snapshot, address) is { } awaited ? AwaitedNames.Describe(awaited) : "an object that could not be read";

    /// <summary>What the namer needs to know of the object at an address; null when its type cannot be read.</summary>
    public AwaitedObject? AwaitedObjectAt(HeapSnapshot snapshot, ulong address)
    {
        var type = TypeAt(address);
        if (type is null)
        {
            return null;
        }

        snapshot.ByAddress.TryGetValue(address, out var operation);
        bool? timerIsNull = null;
        Type? timerType = null;
        if (type.Name.StartsWith("DelayPromise", StringComparison.Ordinal))
        {
            // DelayPromise._timer (.NET 5 – 11) is null exactly when the delay is infinite; its type says whose clock it
            // runs on.
            var promise = ObjectAt(address);
            if (promise.Type?.GetFieldByName("_timer") is { IsObjectReference: true } field
                && _reader.Read(field.GetAddress(promise.Address), out ulong timer))
            {
                timerIsNull = timer == 0;
                timerType = timerIsNull == true ? null : TypeAt(timer);
            }
        }

        MethodBase? action = null;
        try
        {
            action = operation is { Delegate: not 0 } ? MethodOfDelegate(operation.Delegate) : null;
        }
        catch (Exception)
        {
            // Torn delegate: named without it.
        }

        return new AwaitedObject(type, operation?.StateMachineType, action, timerIsNull, timerType);
    }

    /// <summary>
    /// The hosted service an async method of a hosted-service class runs on (its state machine's <c>this</c>), with
    /// whether its stop was requested; null for any other method or when the objects cannot be read. Fields read by name:
    /// the box's <c>StateMachine</c> (AsyncStateMachineBox, .NET Core 2.1 – 11; a box without it is not named) or, in
    /// Debug builds, the state machine object; <c>&lt;&gt;4__this</c> (the C# compiler's name for the hoisted <c>this</c>).
    /// </summary>
    public HostedServiceReading? HostedServiceOf(HeapOperation operation)
    {
        if (operation.StateMachineType is not { DeclaringType: { } declaring } machine
            || !HostedServices.IsHostedService(declaring)
            || machine.GetField(ThisField, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic) is null)
        {
            return null;
        }

        var self = operation.StateMachineObject != 0
            ? ObjectField(ObjectAt(operation.StateMachineObject), ThisField)
            : ObjectField(ObjectAt(operation.Address) is { IsValid: true } box ? box.ReadValueTypeField("StateMachine") : default, ThisField);
        if (!self.IsValid || TypeAt(self.Address) is not { } type || !HostedServices.IsHostedService(type))
        {
            return null;
        }

        return new HostedServiceReading(type, HostedServices.BackgroundBase(type) is null ? null : StoppingRequestedAt(self));
    }

    // BackgroundService._stoppingCts (Microsoft.Extensions.Hosting.Abstractions 2.1 – 10) and CancellationTokenSource._state
    // (.NET Core 3.0 – 11; 0 until Cancel): missing, the stop state is not told.
    private bool? StoppingRequestedAt(ClrObject service)
    {
        if (ObjectField(service, "_stoppingCts") is not { IsValid: true } source
            || source.Type?.GetFieldByName("_state") is not { ElementType: ClrElementType.Int32 })
        {
            return null;
        }

        return source.ReadField<int>("_state") != 0;
    }

    private const string ThisField = "<>4__this";

    /// <summary>A short name for the object at an address, for retention paths.</summary>
    public string NameAt(ulong address) =>
        TypeAt(address) is { } type ? TypeNames.Display(type) : ObjectAt(address).Type?.Name ?? "?";

    /// <summary>
    /// The object at an address, through ClrMD, or an invalid one when the word at the address is not a method table
    /// (the object moved in a GC since its address was read, or it is being written). ClrMD hands the word to the
    /// runtime's data access layer, which crashed the process on .NET 8 on such words (SIGSEGV inside it): every object
    /// this class reads through ClrMD is first checked here with the heap's own safe reader.
    /// </summary>
    internal ClrObject ObjectAt(ulong address)
    {
        if (address == 0 || !_reader.Read(address, out ulong word) || Lookup(word & ~7UL) is not { Kind: not TypeKind.Invalid } info)
        {
            return default;
        }

        // The type of the word just checked (ClrMD has it cached), not of a second reading of the address.
        return _runtime.GetTypeByMethodTable(info.MethodTable) is { } type ? _runtime.Heap.GetObject(address, type) : default;
    }

    /// <summary>An object reference field of <paramref name="value"/>, read as <see cref="ObjectAt"/> reads objects.</summary>
    private ClrObject ObjectField(ClrObject value, string name) =>
        value.IsValid && value.Type?.GetFieldByName(name) is { IsObjectReference: true } field
        && _reader.Read(field.GetAddress(value.Address), out ulong reference)
            ? ObjectAt(reference)
            : default;

    /// <summary>An object reference field of a value type inside an object (a box's state machine).</summary>
    private ClrObject ObjectField(ClrValueType value, string name) =>
        value.IsValid && value.Type?.GetFieldByName(name) is { IsObjectReference: true } field
        && _reader.Read(field.GetAddress(value.Address, interior: true), out ulong reference)
            ? ObjectAt(reference)
            : default;

    /// <summary>True when a reference field holds null or an object <see cref="ObjectAt"/> accepts.</summary>
    private bool ObjectFieldIsReadable(ClrObject value, string name) =>
        value.Type?.GetFieldByName(name) is { IsObjectReference: true } field
        && _reader.Read(field.GetAddress(value.Address), out ulong reference)
        && (reference == 0 || ObjectAt(reference).IsValid);

    /// <summary>
    /// Task.s_currentActiveTasks (.NET Core 1.0 – 11, private static Dictionary&lt;int, Task&gt;, null until tracking
    /// starts): the runtime's tracking dictionary, or 0. Read by reflection, not through ClrMD (reading this static
    /// through the DAC in process crashed on .NET 10.0.12); its address is valid while no GC runs, which the caller's
    /// snapshot guarantees or detects.
    /// </summary>
    public static unsafe ulong ActiveTasksDictionary()
    {
        var value = typeof(Task).GetField("s_currentActiveTasks", BindingFlags.Static | BindingFlags.NonPublic)?.GetValue(null);
        return value is null ? 0 : (ulong)*(nint*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref value);
    }

    /// <summary>True when the heap read is this process's own (objects move under GCs), false for another process or a dump.</summary>
    public bool InProcess => _inProcess;
#if !CLRMD3

    /// <summary>
    /// The managed threads of another process or a dump that execute a task: their frames and the tasks they execute,
    /// read with the same writer as the child process that reads a test process's threads (NoLeaks.Stacks), and parsed by
    /// the same code. A thread that executes no task is matched to no operation, and its frames are not named.
    /// </summary>
    public IReadOnlyList<Analysis.ThreadStack> ThreadStacksOfTarget()
    {
        if (_inProcess)
        {
            throw new InvalidOperationException("this process's own threads are read by a child process (ThreadStacks)");
        }

        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            NoLeaks.Stacks.ThreadStackWriter.Write(json, _runtime, executingOnly: true);
        }

        return Analysis.ThreadStacks.Parse(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>The target's methods by module file and token, for naming what its threads run.</summary>
    public Analysis.RunningWork.ModuleIndex TargetModules() =>
        _typeMap is OtherProcessTypes types
            ? new Analysis.RunningWork.ModuleIndex(types.ModuleAt, types.RuntimeDirectory ?? "")
            : new Analysis.RunningWork.ModuleIndex();
#endif
}
