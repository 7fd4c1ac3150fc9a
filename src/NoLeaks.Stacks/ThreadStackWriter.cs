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
    /// <summary>Writes <c>{"threads":[…]}</c>: every live managed thread of <paramref name="runtime"/>.</summary>
    /// <param name="json">Where to write.</param>
    /// <param name="runtime">The runtime whose threads are read.</param>
    /// <param name="executingOnly">Only the threads that execute a task (the others' frames are neither named nor
    /// written: naming a frame's method and IL offset asks the runtime's data access library for the method's metadata).</param>
    /// <param name="stopThread">Null when the whole process is stopped; otherwise stops one thread (by its OS id) while its
    /// stack is read, the others running (null: that thread cannot be stopped, and is left out).</param>
    public static void Write(Utf8JsonWriter json, ClrRuntime runtime, bool executingOnly = false, Func<uint, IDisposable?>? stopThread = null)
    {
        json.WriteStartObject();
        json.WriteStartArray("threads");
        if (stopThread is null)
        {
            foreach (var thread in runtime.Threads)
            {
                if (thread.IsAlive)
                {
                    WriteThread(json, thread, executingOnly);
                }
            }
        }
        else
        {
            foreach (var id in runtime.Threads.Where(thread => thread.IsAlive).Select(thread => thread.OSThreadId).ToList())
            {
                using var stopped = stopThread(id);
                if (stopped is null)
                {
                    continue;
                }

                // What the runtime's data access library read before this thread stopped (its frame chain among it) may
                // have changed since: read it anew.
                runtime.FlushCachedData();
                if (runtime.Threads.FirstOrDefault(thread => thread.OSThreadId == id && thread.IsAlive) is { } thread)
                {
                    WriteThread(json, thread, executingOnly, othersRun: true);
                }
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteThread(Utf8JsonWriter json, ClrThread thread, bool executingOnly, bool othersRun = false)
    {
        var frames = thread.EnumerateStackTrace().ToList();

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
        foreach (var root in thread.EnumerateStackRoots())
        {
            if (root.StackFrame?.Method is not { } method || !IsExecuting(method) || !IsTask(root.Object.Type))
            {
                continue;
            }

            var id = root.Object.TryReadField<int>("m_taskId", out var taskId) ? taskId : 0;

            // With other threads running, a GC may move the task while it is read (the GC then writes its new address
            // into the stack slot): a slot that changed means the id may be another object's, and the task is left out.
            // (A root in a register, address 0, cannot be read again.)
            if (othersRun && root.Address != 0
                && (!thread.Runtime.DataTarget.DataReader.ReadPointer(root.Address, out var stillThere) || stillThere != root.Object.Address))
            {
                continue;
            }

            tasks.Add((id, root.Object.Address));
        }

        return tasks;
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
