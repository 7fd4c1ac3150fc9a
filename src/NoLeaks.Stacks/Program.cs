using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Stacks;

/// <summary>
/// <c>dotnet exec --runtimeconfig &lt;file&gt; NoLeaks.Stacks.dll &lt;pid&gt; [&lt;DAC path&gt;]</c>: waits for one line on its
/// standard input (the parent's go-ahead, given once it has allowed this process to trace it), attaches to the process,
/// reads every managed thread's stack and writes them as one JSON object on its standard output, after detaching.
/// </summary>
internal static class Program
{
    /// <summary>How long the process may stay attached: the test process is stopped while it is.</summary>
    private static readonly TimeSpan AttachedLimit = TimeSpan.FromSeconds(5);

    private static int Main(string[] args)
    {
        if (args.Length < 1 || !int.TryParse(args[0], out var pid))
        {
            Console.Error.WriteLine("usage: NoLeaks.Stacks <pid> [<DAC path>]");
            return 2;
        }

        var dacPath = args.Length > 1 ? args[1] : null;
        if (Console.In.ReadLine() is null)
        {
            return 2;
        }

        // The tracee is stopped while this process is attached to it; if the read never ends, exiting detaches it
        // (the kernel resumes the threads of a process whose tracer died).
        var watchdog = new Thread(() =>
        {
            Thread.Sleep(AttachedLimit);
            Console.Error.WriteLine($"the stack read did not end within {AttachedLimit.TotalSeconds:0} s");
            Environment.Exit(3);
        })
        {
            IsBackground = true,
        };
        watchdog.Start();

        byte[] json;
        try
        {
            json = Read(pid, dacPath);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{e.GetType().Name}: {e.Message}");
            return 1;
        }

        // Written only now, after detaching: a stopped parent does not read its end of the pipe.
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(json);
        return 0;
    }

    private static byte[] Read(int pid, string? dacPath)
    {
        var output = new MemoryStream();
        using (var target = DataTarget.AttachToProcess(pid, suspend: true))
        {
            if (target.ClrVersions.Length == 0)
            {
                throw new InvalidOperationException("no CLR found in the process");
            }

            using var runtime = dacPath is not null && File.Exists(dacPath)
                ? target.ClrVersions[0].CreateRuntime(dacPath, ignoreMismatch: true)
                : target.ClrVersions[0].CreateRuntime();
            using var json = new Utf8JsonWriter(output);
            json.WriteStartObject();
            json.WriteStartArray("threads");
            foreach (var thread in runtime.Threads)
            {
                if (!thread.IsAlive)
                {
                    continue;
                }

                WriteThread(json, thread);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return output.ToArray();
    }

    private static void WriteThread(Utf8JsonWriter json, ClrThread thread)
    {
        json.WriteStartObject();
        json.WriteNumber("managedId", thread.ManagedThreadId);
        json.WriteNumber("osId", thread.OSThreadId);

        // Preemptive: outside managed code (a wait, a sleep, a native call); cooperative: executing managed code.
        json.WriteBoolean("preemptive", thread.GCMode == GCMode.Preemptive);
        var frames = thread.EnumerateStackTrace().ToList();
        json.WriteStartArray("taskIds");

        // Reading a stack's roots costs far more than its frames: only where a frame executes a task.
        if (frames.Exists(frame => frame.Method is { } method && IsExecuting(method)))
        {
            foreach (var id in TaskIds(thread))
            {
                json.WriteNumberValue(id);
            }
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
    /// The ids of the tasks the thread is executing, read from <c>Task.m_taskId</c>: the task the runtime's frames that
    /// execute a task hold (<c>Task.ExecuteWithThreadLocal</c>'s <c>this</c>: a delegate task, also one run inline), and
    /// the async-method box whose <c>MoveNext</c> the runtime runs. Not any task on the stack: a thread waiting on a task
    /// holds that task too.
    /// </summary>
    private static IEnumerable<int> TaskIds(ClrThread thread)
    {
        var ids = new HashSet<int>();
        foreach (var root in thread.EnumerateStackRoots())
        {
            if (root.StackFrame?.Method is not { } method || !IsExecuting(method) || !IsTask(root.Object.Type))
            {
                continue;
            }

            if (root.Object.TryReadField<int>("m_taskId", out var id) && id != 0)
            {
                ids.Add(id);
            }
        }

        return ids;
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
