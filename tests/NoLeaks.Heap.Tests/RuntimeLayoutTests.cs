using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NoLeaks.Heap.Tests;

/// <summary>
/// The heap source reads runtime internals at offsets ClrMD gives for field names (src/NoLeaks/Heap/RuntimeLayout.cs).
/// These tests fail loudly when a runtime renames or moves one of them: every name must be found, and every offset
/// must read, from a live object, the value reflection reads from the same field.
/// </summary>
public class RuntimeLayoutTests
{
    private const int TestTimeout = 60_000;
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    private static readonly int PointerSize = IntPtr.Size;

    private static ProcessHeap Heap => SharedHeap.Get();

    [Fact]
    public void Task_layout_finds_every_field_it_reads_on_this_runtime()
    {
        var layout = Heap.Locked(() => TaskLayout.Read(Heap.Runtime));

        int[] taskFields = [layout.TaskId, layout.StateFlags, layout.ContinuationObject, layout.StateObject, layout.Action, layout.ContingentProperties];
        Assert.All(taskFields, offset => Assert.True(offset >= PointerSize, $"offset {offset} lies in the method-table pointer"));
        Assert.Equal(taskFields.Length, taskFields.Distinct().Count());
        Assert.True(layout.CapturedContext >= PointerSize, $"ContingentProperties.m_capturedContext at {layout.CapturedContext}");
    }

    [Fact]
    public void Task_layout_offsets_read_the_fields_of_a_live_task()
    {
        var layout = Heap.Locked(() => TaskLayout.Read(Heap.Runtime));
        using var cancellation = new CancellationTokenSource();
        var state = new object();
        Action<object?> action = _ => { };

        // Never started: a delegate task with a state object, contingent properties (a cancelable token) and the
        // test's ExecutionContext captured in them.
        var task = new Task(action, state, cancellation.Token);
        _ = task.Id;

        Assert.Equal(Field<int>(task, "m_taskId"), Read<int>(task, layout.TaskId));
        Assert.Equal(Field<int>(task, "m_stateFlags"), Read<int>(task, layout.StateFlags));
        Assert.Same(state, Read<object>(task, layout.StateObject));
        Assert.Same(action, Read<object>(task, layout.Action));
        var contingent = Read<object>(task, layout.ContingentProperties);
        Assert.Same(Field<object>(task, "m_contingentProperties"), contingent);
        var captured = contingent.GetType().GetField("m_capturedContext", Instance)!.GetValue(contingent);
        Assert.IsType<ExecutionContext>(captured);
        Assert.Same(captured, Read<object>(contingent, layout.CapturedContext));

        var promise = new TaskCompletionSource();
        promise.Task.ContinueWith(_ => { }, TaskScheduler.Default);
        Assert.Same(Field<object>(promise.Task, "m_continuationObject"), Read<object>(promise.Task, layout.ContinuationObject));
        promise.SetResult();
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Task_state_flag_constants_match_the_runtime_task_status()
    {
        var layout = Heap.Locked(() => TaskLayout.Read(Heap.Runtime));
        int Flags(Task task) => Read<int>(task, layout.StateFlags);

        var pending = new TaskCompletionSource();
        Assert.Equal(0, Flags(pending.Task) & ProcessHeap.TaskStateCompletedMask);

        var faulted = Task.FromException(new InvalidOperationException());
        var canceled = Task.FromCanceled(new CancellationToken(canceled: true));
        var ranToCompletion = Task.FromResult(1);
        Assert.All([faulted, canceled, ranToCompletion], task => Assert.NotEqual(0, Flags(task) & ProcessHeap.TaskStateCompletedMask));

        using var release = new ManualResetEventSlim();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = Task.Run(() =>
        {
            started.SetResult();
            release.Wait(TestContext.Current.CancellationToken);
        }, TestContext.Current.CancellationToken);
        await started.Task;
        Assert.Equal(TaskStatus.Running, running.Status);
        Assert.NotEqual(0, Flags(running) & ProcessHeap.TaskStateDelegateInvoked);
        Assert.Equal(0, Flags(running) & ProcessHeap.TaskStateCompletedMask);
        release.Set();
        await running;
        pending.SetResult();
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Async_method_box_layout_reads_state_awaiter_and_builder_of_a_suspended_method()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var box = WaitAsync(gate.Task);
        var layout = BoxLayoutOf(box, ProcessHeap.TypeKind.AsyncBox);

        AssertMachineFields(layout, box, gate.Task);
        gate.SetResult();
        await box;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pooling_box_layout_reads_completion_context_and_continuation_of_a_suspended_method()
    {
        var gate = new TaskCompletionSource();
        var pending = WaitPooledAsync(gate.Task);
        var box = typeof(ValueTask).GetField("_obj", Instance)!.GetValue(pending)!;
        var layout = BoxLayoutOf(box, ProcessHeap.TypeKind.PoolingBox);

        AssertMachineFields(layout, box, gate.Task);
        Assert.True(layout.Context >= PointerSize, "StateMachineBox.Context not found");
        Assert.True(layout.ContinuationState >= PointerSize, "_valueTaskSource._continuationState not found");
        Assert.Same(box.GetType().GetField("Context", Instance)!.GetValue(box), Read<object>(box, layout.Context));
        Assert.NotNull(Read<object>(box, layout.Context));

        // Completion: the _completed flag up to .NET 10; on .NET 11 (no such field) the shared sentinel as continuation.
        var sentinel = typeof(object).Assembly.GetType("System.Threading.Tasks.Sources.ManualResetValueTaskSourceCoreShared")
            ?.GetField("s_sentinel", BindingFlags.Static | BindingFlags.NonPublic)?.GetValue(null);
        Func<bool> completed;
        if (Environment.Version.Major >= 11)
        {
            Assert.True(layout.Continuation >= PointerSize, "_valueTaskSource._continuation not found");
            Assert.NotNull(sentinel);
            completed = () => ReferenceEquals(Read<object>(box, layout.Continuation), sentinel);
        }
        else
        {
            Assert.True(layout.Completed >= PointerSize, "_valueTaskSource._completed not found");
            completed = () => Read<byte>(box, layout.Completed) == 1;
        }

        Assert.False(completed());

        // Continuations run inline: the method has finished when SetResult returns, its result not consumed yet.
        gate.SetResult();
        Assert.True(pending.IsCompletedSuccessfully);
        Assert.True(completed());
        await pending;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Snapshot_classifies_both_kinds_of_box_and_reads_their_awaiters()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var plain = WaitAsync(gate.Task);
        var pooled = WaitPooledAsync(gate.Task);

        try
        {
            var snapshot = Heap.Capture();

            Assert.Empty(snapshot.Warnings);
            var machines = snapshot.Operations.Where(o => o.StateMachineType?.DeclaringType == typeof(RuntimeLayoutTests)).ToList();
            var box = Assert.Single(machines, o => o.Kind == HeapObjectKind.AsyncBox && o.StateMachineType!.Name.Contains(nameof(WaitAsync), StringComparison.Ordinal));
            var pooledBox = Assert.Single(machines, o => o.Kind == HeapObjectKind.PoolingBox);
            Assert.Contains(nameof(WaitPooledAsync), pooledBox.StateMachineType!.Name, StringComparison.Ordinal);
            Assert.All([box, pooledBox], operation =>
            {
                Assert.Equal(0, operation.State);
                Assert.NotEqual(0UL, operation.Awaited);
                Assert.NotEqual(0UL, operation.Context);
            });
            Assert.Equal(box.Awaited, pooledBox.Awaited); // both wait on the gate's task
        }
        finally
        {
            // Also when an assertion failed: work left suspended would be abandoned in some other test's heap scope.
            gate.SetResult();
            await plain;
            await pooled;
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_continuation_s_lambda_that_never_ran_is_named_from_its_entry_point()
    {
        // Before .NET 10 the data access layer names no method from the entry point of one that has never run; NoLeaks
        // then compares the delegate's pointers with the entry points of its target's methods. Tested on every runtime.
        var never = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var continuation = never.Task.ContinueWith(t => t.Result + 1, TaskScheduler.Default);
        var id = continuation.Id;
        var expected = Field<Delegate>(continuation, "m_action").Method;

        try
        {
            // Read while the snapshot's addresses are valid (its no-GC region); a reading a GC spoiled anyway is taken again.
            MethodBase? named = null;
            for (var reading = 0; reading < 5 && named is null; reading++)
            {
                named = Heap.Capture(forceGc: true, snapshot =>
                {
                    var operation = Assert.Single(snapshot.Operations, o => o.TaskId == id);
                    Assert.NotEqual(0UL, operation.Delegate);
                    return new[] { Heap.MethodOfDelegateByEntryPoint(operation.Delegate) };
                }).Result?[0];
            }

            Assert.Equal(expected, named);
        }
        finally
        {
            never.SetResult(1);
            await continuation;
        }
    }

    [Fact]
    public void Method_table_parent_offset_is_found_and_reads_the_parent_of_live_types()
    {
        // Probed when the heap is opened; without it every word a walk meets goes to the data access layer unchecked.
        var offset = Heap.ParentOffset;
        Assert.True(offset > 0, "MethodTable.m_pParentMethodTable was not found on this runtime");

        ulong Parent(Type type) => Heap.Reader.Read(MethodTableOf(type) + (ulong)offset, out ulong parent) ? parent : 0;
        Assert.Equal(MethodTableOf(typeof(SystemException)), Parent(typeof(ArgumentException)));
        Assert.Equal(MethodTableOf(typeof(Array)), Parent(typeof(int[])));
        Assert.Equal(MethodTableOf(typeof(ValueType)), Parent(typeof(Guid)));
        Assert.Equal(MethodTableOf(typeof(object)), Parent(typeof(List<int>)));
    }

    [Fact]
    public void A_word_is_taken_for_a_method_table_only_when_its_parents_lead_to_object()
    {
        var list = new List<int> { 1 };
        var inHeap = Unsafe.As<List<int>, nint>(ref list); // an object reference: the commonest word a walk misreads

        Assert.True(Heap.Locked(() => Heap.LooksLikeMethodTable(MethodTableOf(typeof(Uri)))));
        Assert.True(Heap.Locked(() => Heap.LooksLikeMethodTable(MethodTableOf(typeof(KeyValuePair<string, Uri>)))));
        Assert.False(Heap.Locked(() => Heap.LooksLikeMethodTable((ulong)inHeap)));
        GC.KeepAlive(list);
    }

    [Fact]
    public void Method_table_class_offsets_are_found_and_lead_live_types_back_to_themselves()
    {
        // Probed when the heap is opened; without them a word whose parent chain looks right goes to the data access
        // layer, which crashed the process on .NET 8 and 9 on such words.
        var (classOffset, back) = Heap.ClassOffsets;
        Assert.True(classOffset > 0 && back >= 0, "MethodTable.m_pEEClass or EEClass.m_pMethodTable was not found on this runtime");

        // Generic instantiations over reference types and arrays of them name their class through a canonical method
        // table; every real method table must still pass.
        Type[] types = [typeof(Uri), typeof(List<int>), typeof(List<string>), typeof(Dictionary<string, Uri>), typeof(KeyValuePair<string, Uri>),
            typeof(int[]), typeof(string[]), typeof(Uri[,]), typeof(Task<int>), typeof(Guid), typeof(Action<object?>)];
        Assert.All(types, type => Assert.True(Heap.Locked(() => Heap.LooksLikeMethodTable(MethodTableOf(type))), type.Name));
    }

    [Fact]
    public void A_word_whose_parent_is_a_method_table_but_whose_class_does_not_lead_back_is_not_taken_for_one()
    {
        // A word 16 bytes before any object's header "has" that object's method table as its parent, so the parent
        // chain alone took many heap addresses near objects. Made here in pinned memory, in the shape the data access
        // layer of .NET 8 and 9 crashes on (SIGSEGV): flags of a generic instantiation, a class whose method table
        // pointer is null. Without the class check the type read below ends the test process on those runtimes.
        var (classOffset, back) = Heap.ClassOffsets;
        Assert.True(classOffset > 0, "MethodTable.m_pEEClass was not found on this runtime");
        var fake = GC.AllocateArray<long>(8, pinned: true);
        var fakeClass = GC.AllocateArray<long>(8, pinned: true);
        var holder = GC.AllocateArray<long>(4, pinned: true); // an "object" whose header is the fake
        var fakeAddress = (ulong)Marshal.UnsafeAddrOfPinnedArrayElement(fake, 0);
        var holderAddress = (ulong)Marshal.UnsafeAddrOfPinnedArrayElement(holder, 0);
        fake[0] = 0x10 | (24L << 32); // MethodTable.m_dwFlags: a generic instantiation; m_BaseSize: 24
        fake[Heap.ParentOffset / 8] = (long)MethodTableOf(typeof(object));
        fake[classOffset / 8] = (long)Marshal.UnsafeAddrOfPinnedArrayElement(fakeClass, 0);
        fakeClass[back / 8] = 0;
        holder[0] = (long)fakeAddress;

        Assert.False(Heap.Locked(() => Heap.LooksLikeMethodTable(fakeAddress)));
        Assert.Null(Heap.Locked(() => Heap.TypeAt(holderAddress)));
        Assert.False(Heap.Locked(() => Heap.ObjectAt(holderAddress).IsValid));
        GC.KeepAlive(fake);
        GC.KeepAlive(fakeClass);
        GC.KeepAlive(holder);
    }

    [Fact]
    public void An_address_whose_word_is_not_a_method_table_is_no_object_to_ClrMD()
    {
        // What a moved object's old address holds: any word. ClrMD would hand it to the data access layer as a method
        // table (a SIGSEGV there on .NET 8); ObjectAt checks it first. Read in a snapshot's no-GC region.
        var holder = new object[] { new Uri("https://example.com/") };
        string?[]? read = null;
        for (var reading = 0; reading < 5 && read is null; reading++)
        {
            // Null: a GC (other tests allocate in parallel) ended the no-GC region during the reading: read again.
            read = Heap.Capture(forceGc: false, _ =>
            {
                var address = (ulong)Unsafe.As<object[], nint>(ref holder);
                var element = Heap.ObjectAt(address + (ulong)(2 * IntPtr.Size)); // inside the array: a reference to the Uri
                return new[] { Heap.ObjectAt(address).Type?.Name, element.IsValid ? "valid" : "invalid", Heap.NameAt(address) };
            }).Result;
        }

        Assert.NotNull(read);
        Assert.Equal(["System.Object[]", "invalid", "object[]"], read);
        GC.KeepAlive(holder);
    }

    private static ulong MethodTableOf(Type type) => (ulong)type.TypeHandle.Value;

    [Fact]
    public void Missing_task_field_is_named_by_the_probe()
    {
        var task = Heap.Locked(() => TaskLayout.TypeOf(Heap.Runtime, OwnProcessTypes.Instance, typeof(Task)));

        var missing = Assert.Throws<MissingFieldException>(() => TaskLayout.Offset(task, "m_renamedByANewRuntime"));
        Assert.Contains("m_renamedByANewRuntime", missing.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Heap_whose_layout_probe_fails_makes_the_report_say_why_instead_of_throwing()
    {
        // The source's own seam: how it opens the heap. This open runs the real probe for a field this runtime lacks.
        var source = new HeapSource(() =>
        {
            _ = Heap.Locked(() => TaskLayout.Offset(TaskLayout.TypeOf(Heap.Runtime, OwnProcessTypes.Instance, typeof(Task)), "m_renamedByANewRuntime"));
            return Heap;
        });
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("probe fails", new NoLeaksOptions { Source = LeakSource.Heap, GracePeriod = TimeSpan.Zero }, new LeakEngine(source));
        var waiting = WaitAsync(never.Task);
        var report = await scope.EndAsync(cancellationToken: TestContext.Current.CancellationToken);

        // Finished before the next test: its continuation runs on the pool, and the next test's snapshot of this class's
        // boxes must not see it still pending.
        never.SetResult();
        await waiting.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Empty(report.Leaks);
        var warning = Assert.Single(report.Warnings);
        Assert.Contains("the heap cannot be read in this process", warning, StringComparison.Ordinal);
        Assert.Contains("MissingFieldException", warning, StringComparison.Ordinal);
        Assert.Contains("m_renamedByANewRuntime", warning, StringComparison.Ordinal);
        Assert.Contains(warning, report.ToString(), StringComparison.Ordinal);
    }

    private static BoxLayout BoxLayoutOf(object box, ProcessHeap.TypeKind kind)
    {
        var info = new ProcessHeap.TypeInfo { MethodTable = (ulong)box.GetType().TypeHandle.Value, Type = box.GetType(), Kind = kind };
        var layout = Heap.Locked(() => BoxLayout.Read(Heap.Runtime, info));
        Assert.True(layout is not null, $"no StateMachine field on {box.GetType()}");
        return layout;
    }

    /// <summary>The compiler's fields, read at the layout's offsets, against reflection on the live state machine.</summary>
    private static void AssertMachineFields(BoxLayout layout, object box, Task awaited)
    {
        Assert.True(layout.StateMachine >= PointerSize, "StateMachine not found");
        Assert.True(layout.State >= 0, "<>1__state not found");
        Assert.True(layout.BuilderTask >= 0, "<>t__builder's task not found");
        var awaiter = Assert.Single(layout.Awaiters);
        Assert.NotEmpty(awaiter.References);
        Assert.False(awaiter.IsYield);

        var machineField = box.GetType().GetField("StateMachine", Instance)!;
        Assert.Equal(!machineField.FieldType.IsValueType, layout.StateMachineIsClass);
        var machine = machineField.GetValue(box)!;
        var reflectedState = (int)machine.GetType().GetField("<>1__state", Instance)!.GetValue(machine)!;

        // A Release build's state machine lives inside the box; a Debug build's is an object of its own.
        var (holder, start) = layout.StateMachineIsClass ? (Read<object>(box, layout.StateMachine), PointerSize) : (box, layout.StateMachine);
        Assert.Equal(0, reflectedState);
        Assert.Equal(reflectedState, Read<int>(holder, start + layout.State));
        Assert.Same(box, Read<object>(holder, start + layout.BuilderTask));
        Assert.Same(awaited, Read<object>(holder, start + awaiter.References[0]));
    }

    private static T Field<T>(object target, string name) =>
        (T)typeof(Task).GetField(name, Instance)!.GetValue(target)!;

    /// <summary>The value at an offset counted from the object's start (its method-table pointer), GC-safe.</summary>
    private static T Read<T>(object target, int offset) =>
        Unsafe.As<byte, T>(ref Unsafe.AddByteOffset(ref Unsafe.As<RawObject>(target).Data, offset - PointerSize));

    private static async Task WaitAsync(Task gate)
    {
        await gate;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WaitPooledAsync(Task gate)
    {
        await gate;
    }

    /// <summary>Any object seen as its data: the first byte after the method-table pointer (RuntimeHelpers.GetRawData's trick).</summary>
    private sealed class RawObject
    {
        public byte Data;
    }
}
