using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Stacks;

/// <summary>
/// Writes the managed threads of a runtime ClrMD reads as JSON: each thread's frames (module, token, IL offset) and the
/// tasks it is executing. One writer for both readers of other processes' threads: the child process that reads a test
/// process's threads (this project) and the <c>noleaks</c> command (the file is compiled into NoLeaks.dll as well); the
/// core parses this format (<c>ThreadStacks.Parse</c>).
/// </summary>
internal static class ThreadStackWriter
{
    /// <summary>Writes <c>{"threads":[…]}</c>: every live managed thread of <paramref name="runtime"/>, a process that is
    /// stopped as a whole or a dump.</summary>
    /// <param name="json">Where to write.</param>
    /// <param name="runtime">The runtime whose threads are read.</param>
    /// <param name="executingOnly">Only the threads that execute a task (the others' frames are neither named nor
    /// written: naming a frame's method and IL offset asks the runtime's data access library for the method's metadata).</param>
    public static void Write(Utf8JsonWriter json, ClrRuntime runtime, bool executingOnly = false)
    {
        json.WriteStartObject();
        json.WriteStartArray("threads");
        foreach (var thread in runtime.Threads)
        {
            if (thread.IsAlive)
            {
                WriteThread(json, thread, executingOnly);
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>
    /// Writes <c>{"threads":[…]}</c> of a process that runs on, its runtime's records read once: every thread is stopped
    /// while a runtime is opened (<paramref name="open"/>), lists its threads and walks their frames; the threads that
    /// execute a task stay stopped until their stacks are written, the others go on at once and are not written (their
    /// stacks match no task). The records are read once: each listing makes the data access library read every assembly's
    /// name, and on .NET 8 and 9 it faulted now and then doing so (about one listing in fifteen in an NUnit test process).
    /// </summary>
    public static void WriteHoldingExecuting(Utf8JsonWriter json, Func<ClrRuntime> open, IThreadStops stops)
    {
        json.WriteStartObject();
        json.WriteStartArray("threads");
        var held = new List<(ClrThread Thread, List<ClrStackFrame> Frames, IDisposable Stop)>();
        try
        {
            using var runtime = open();
            using (var all = stops.StopAll())
            {
                foreach (var thread in runtime.Threads.Where(thread => thread.IsAlive))
                {
                    var frames = thread.EnumerateStackTrace().ToList();
                    if (frames.Exists(frame => frame.Method is { } method && IsExecuting(method)) && all.Hold(thread.OSThreadId) is { } stop)
                    {
                        held.Add((thread, frames, stop));
                    }
                }
            }

            while (held.Count > 0)
            {
                var (thread, frames, stop) = held[0];
                held.RemoveAt(0);
                using (stop)
                {
                    WriteThread(json, thread, executingOnly: true, othersRun: true, frames);
                }
            }
        }
        finally
        {
            foreach (var (_, _, stop) in held)
            {
                stop.Dispose();
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteThread(Utf8JsonWriter json, ClrThread thread, bool executingOnly, bool othersRun = false, List<ClrStackFrame>? frames = null)
    {
        frames ??= thread.EnumerateStackTrace().ToList();

        // Reading a stack's roots costs far more than its frames: only where a frame executes a task.
        var tasks = frames.Exists(frame => frame.Method is { } method && IsExecuting(method)) ? ExecutedTasks(thread, othersRun) : [];
        if (executingOnly && tasks.Count == 0)
        {
            return;
        }

        json.WriteStartObject();
        json.WriteNumber("managedId", thread.ManagedThreadId);
        json.WriteNumber("osId", thread.OSThreadId);

        // Preemptive: outside managed code (a wait, a sleep, a native call); cooperative: executing managed code.
        json.WriteBoolean("preemptive", thread.GCMode == GCMode.Preemptive);
        json.WriteStartArray("taskIds");
        foreach (var id in tasks.Select(task => task.Id).Where(id => id != 0).Distinct())
        {
            json.WriteNumberValue(id);
        }

        json.WriteEndArray();
        json.WriteStartArray("taskAddresses");
        foreach (var address in tasks.Select(task => task.Address).Distinct())
        {
            json.WriteNumberValue(address);
        }

        json.WriteEndArray();
        json.WriteStartArray("frames");
        var managed = 0;
        foreach (var frame in frames)
        {
            json.WriteStartObject();
            if (frame.Method is { } method)
            {
                // A frame below the innermost one is at a return address, which belongs to the instruction after the
                // call: one byte back is the call itself. The innermost frame of a thread stopped in managed code is
                // at the instruction it executes.
                var ip = managed++ == 0 && thread.GCMode == GCMode.Cooperative ? frame.InstructionPointer : frame.InstructionPointer - 1;
                json.WriteString("module", method.Type?.Module?.Name);
                json.WriteNumber("token", method.MetadataToken);
                json.WriteNumber("il", method.GetILOffset(ip));
                json.WriteString("method", method.Signature ?? method.Name);
            }
            else
            {
                json.WriteString("runtime", frame.FrameName ?? frame.Kind.ToString());
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>
    /// The tasks the thread is executing, with their <c>Task.m_taskId</c> (0 when no id was ever asked for): the task
    /// the runtime's frames that execute a task hold (<c>Task.ExecuteWithThreadLocal</c>'s <c>this</c>, live across the
    /// delegate's call because the frame finishes the task after it: a delegate task, also one run inline), and the
    /// async-method box whose <c>MoveNext</c> the runtime runs. Not any task on the stack: a thread waiting on a task
    /// holds that task too.
    /// </summary>
    private static List<(int Id, ulong Address)> ExecutedTasks(ClrThread thread, bool othersRun)
    {
        var tasks = new List<(int, ulong)>();
        var reader = thread.Runtime.DataTarget.DataReader;
        try
        {
            foreach (var root in thread.EnumerateStackRoots())
            {
                // A task is held by a slot that points at it, not into it (an async method's frame also holds a pointer
                // into its box: its state machine).
                if (root.IsInterior || root.StackFrame?.Method is not { } method || !IsExecuting(method) || TaskLayout(root.Object) is not { } layout)
                {
                    continue;
                }

                // With other threads running, a GC may move the task while it is read; it then writes the task's new
                // address into the stack slot (the held thread's frames are the GC's roots like any other's), and the
                // old address holds garbage. The slot is read again after the task, and the task read where the slot
                // points until both agree. Only the task's own method table and id are read, with the plain memory
                // reader: a word that may be garbage never goes to the data access layer (.NET 8's and 9's end the
                // process on some). (A root in a register, address 0, cannot be read again; nor is there a need to where
                // no other thread runs.)
                Func<ulong?>? slot = othersRun && root.Address != 0 ? () => reader.ReadPointer(root.Address, out var value) ? value : null : null;
                if (Follow(root.Object.Address, slot, address => ReadTaskId(reader, address, layout)) is { } task)
                {
                    tasks.Add((task.Id, task.Address));
                }
            }
        }
        catch (Exception)
        {
            // A stack whose roots cannot be listed (its frames torn by a GC in the middle): the tasks found so far.
        }

        return tasks;
    }

    /// <summary>
    /// The method table and <c>Task.m_taskId</c>'s offset of the task <paramref name="value"/> is, as ClrMD read it while
    /// listing the roots; null when it is no task, or its type cannot be read (an object the GC was moving).
    /// </summary>
    private static (ulong MethodTable, int IdOffset)? TaskLayout(ClrObject value)
    {
        try
        {
            return value.Type is { } type && IsTask(type) && type.GetFieldByName("m_taskId") is { } id ? (type.MethodTable, id.Offset) : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// The id of the task at <paramref name="address"/>; throws when the word there is not the task's method table (a
    /// torn read: the GC moved it or is moving it), which <see cref="Follow"/> reads again.
    /// </summary>
    private static int? ReadTaskId(IDataReader reader, ulong address, (ulong MethodTable, int IdOffset) layout) =>
        reader.ReadPointer(address, out var methodTable) && methodTable == layout.MethodTable
        && reader.Read<int>(address + (ulong)reader.PointerSize + (ulong)layout.IdOffset, out var id)
            ? id
            : throw new InvalidOperationException("the task's method table is not at the address read (moved by a GC)");

    /// <summary>How many times a task is read where its slot points before it is left out (a GC that keeps moving it).</summary>
    internal const int FollowAttempts = 4;

    /// <summary>
    /// The address and id of the task a stack slot holds, read with <paramref name="readTask"/> (null: no task there;
    /// an exception: a torn read) at <paramref name="address"/>, the slot's first value. With <paramref name="readSlot"/>
    /// (the slot's value now, null when unreadable) the slot is read after the task: when it holds another address, or the
    /// read failed, the task is read again where it points, up to <see cref="FollowAttempts"/> times. Null when no task is
    /// there, or the slot is unreadable, empty, or still moving.
    /// </summary>
    internal static (ulong Address, int Id)? Follow(ulong address, Func<ulong?>? readSlot, Func<ulong, int?> readTask)
    {
        for (var attempt = 0; attempt < FollowAttempts; attempt++)
        {
            int? id;
            bool torn;
            try
            {
                id = readTask(address);
                torn = false;
            }
            catch (Exception)
            {
                id = null;
                torn = true;
            }

            if (readSlot is null)
            {
                return id is { } read ? (address, read) : null;
            }

            if (readSlot() is not { } now || now == 0)
            {
                return null;
            }

            if (now == address && !torn)
            {
                return id is { } read ? (address, read) : null;
            }

            address = now;
        }

        return null;
    }

    private static bool IsExecuting(ClrMethod method) =>
        method.Type?.Name is { } type
        && ((type == "System.Threading.Tasks.Task" && method.Name is "ExecuteWithThreadLocal" or "ExecuteEntryUnsafe" or "ExecuteEntry")
            // AsyncTaskMethodBuilder<T>+AsyncStateMachineBox<TStateMachine> (ClrMD writes generic arguments in <>).
            || (type.StartsWith("System.Runtime.CompilerServices.AsyncTaskMethodBuilder", StringComparison.Ordinal)
                && type.Contains("+AsyncStateMachineBox", StringComparison.Ordinal)
                && method.Name is "MoveNext" or "ExecutionContextCallback" or "ExecuteFromThreadPool"));

    private static bool IsTask(ClrType? type)
    {
        for (; type is not null; type = type.BaseType)
        {
            if (type.Name == "System.Threading.Tasks.Task")
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>How <see cref="ThreadStackWriter"/> stops the threads of a process that runs on.</summary>
internal interface IThreadStops
{

    /// <summary>Stops every thread of the process; disposing the result lets them go on, but those taken by
    /// <see cref="IStoppedProcess.Hold"/>.</summary>
    IStoppedProcess StopAll();
}

/// <summary>A process whose threads are held stopped.</summary>
internal interface IStoppedProcess : IDisposable
{
    /// <summary>Keeps the thread stopped after the others go on, until the result is disposed; null when it is not stopped.</summary>
    IDisposable? Hold(uint osThreadId);
}
