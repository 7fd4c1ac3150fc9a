using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.InteropServices;

namespace NoLeaks.Analysis;

/// <summary>
/// Says what running work is doing on its thread: the call its code is blocked in and the line of that call
/// (<c>ManualResetEventSlim.Wait() at Tests.cs:42 (its thread is blocked)</c>), or the line it is busy at. Only for
/// a report that has running delegate tasks or async methods, with one read of every thread's stack (<see cref="ThreadStacks"/>).
/// A thread is matched to its work by the id of the task it is executing, never by guess: unmatched work keeps its text.
/// </summary>
internal static class RunningWork
{
    /// <summary>The leaks, the running ones described from their threads' stacks; what could not be read is a warning.</summary>
    public static List<TaskLeak> Describe(List<TaskLeak> leaks, NoLeaksOptions options, List<string> warnings)
    {
        if (!(FromEnvironment ?? options.ReadThreadStacks) || !leaks.Exists(leak => leak.IsRunning && leak.RunningTaskIds.Count > 0))
        {
            return leaks;
        }

        try
        {
            return DescribeFromStacks(leaks, options.StackReaderPath, warnings);
        }
        catch (Exception e)
        {
            // A better text for running work is a detail of the report, never a reason to lose it.
            warnings.Add($"what the running work is doing on its thread could not be described: {e.GetType().Name}: {e.Message}");
            return leaks;
        }
    }

    private static List<TaskLeak> DescribeFromStacks(List<TaskLeak> leaks, string? stackReaderPath, List<string> warnings)
    {
        var wanted = leaks.Where(leak => leak.IsRunning).SelectMany(leak => leak.RunningTaskIds).ToHashSet();
        Dictionary<int, ThreadStack?>? threadOf = null;
        for (var read = 0; read < 2; read++)
        {
            // Read again once when a running task was on no thread's stack: a thread spinning in managed code while
            // other tests ran was missed once in three full test runs (cause not pinned down; a thread caught while the
            // runtime suspends it for a GC is a candidate), and found by the next read.
            var stacks = ThreadStacks.Read(stackReaderPath, out var failure);
            if (stacks is null)
            {
                warnings.Add($"what the running work is doing on its thread could not be read: {failure} ({EnvironmentVariable}=0 stops trying).");
                return leaks;
            }

            threadOf = ThreadsByTask(stacks);
            if (wanted.All(threadOf.ContainsKey))
            {
                break;
            }
        }

        var modules = new ModuleIndex();
        var described = new List<TaskLeak>(leaks.Count);
        foreach (var leak in leaks)
        {
            if (!leak.IsRunning || leak.RunningTaskIds.Count == 0)
            {
                described.Add(leak);
                continue;
            }

            // Operations counted together may be doing different things: one entry per thing they do.
            var groups = leak.RunningTaskIds
                .Select(id => threadOf!.TryGetValue(id, out var thread) && thread is not null ? Describe(thread, modules) : null)
                .Select(text => text ?? leak.WaitingOn)
                .Concat(Enumerable.Repeat(leak.WaitingOn, Math.Max(0, leak.Count - leak.RunningTaskIds.Count)))
                .GroupBy(text => text, StringComparer.Ordinal);
            foreach (var group in groups)
            {
                described.Add(leak.WithWaitingOn(group.Key, group.Count()));
            }
        }

        return described;
    }

    /// <summary>The thread executing each task; null for a task id seen on two threads, which cannot be told apart.</summary>
    private static Dictionary<int, ThreadStack?> ThreadsByTask(IReadOnlyList<ThreadStack> stacks)
    {
        var threadOf = new Dictionary<int, ThreadStack?>();
        foreach (var thread in stacks)
        {
            foreach (var id in thread.TaskIds)
            {
                threadOf[id] = threadOf.ContainsKey(id) ? null : thread;
            }
        }

        return threadOf;
    }

    /// <summary><c>NOLEAKS_THREAD_STACKS=1</c> or <c>0</c>: read thread stacks, or not, whatever the options say. Read once.</summary>
    internal const string EnvironmentVariable = "NOLEAKS_THREAD_STACKS";

    private static readonly bool? FromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable) switch
    {
        "1" => true,
        "0" => false,
        _ => null,
    };

    /// <summary>
    /// What a thread's innermost code of the user's is doing: the call it made that has not returned, or its own line.
    /// Null when the stack holds no code of the user's.
    /// </summary>
    internal static string? Describe(ThreadStack thread, ModuleIndex modules)
    {
        var frames = thread.Frames;
        var user = -1;
        MethodBase? userMethod = null;
        for (var i = 0; i < frames.Count; i++)
        {
            if (modules.Resolve(frames[i]) is { } method && IsUserCode(frames[i], method))
            {
                (user, userMethod) = (i, method);
                break;
            }
        }

        if (userMethod is null)
        {
            return null;
        }

        var site = AwaitSiteResolver.Shared.LineAt(userMethod, frames[user].ILOffset) is { FilePath: not null } found ? found : null;

        // The file name, not the path: WaitingOn is a plain string that reports of the whole run carry too, and a path of
        // this machine does not belong there.
        var line = site is null ? null : $"{site.FileName}:{site.Line}";
        var where = line is null ? $" in {UserName(userMethod)}" : $" at {line}";
        if (user == 0)
        {
            return thread.Preemptive
                ? $"native code called{where} (its thread is blocked)"
                : $"nothing: it is running {UserName(userMethod)}{(line is null ? "" : $" at {line}")}";
        }

        // The call the user's code made: the outermost frame above it, named as the user wrote it when the runtime
        // inlined an overload into the user's method (Monitor.Wait(object) shows as Monitor.Wait(object, int)).
        var calleeFrame = frames[user - 1];
        var callee = modules.Resolve(calleeFrame);
        var called = callee is null ? null : CallAt(userMethod, frames[user].ILOffset, callee);
        var name = called is not null ? CallName(called) : callee is not null ? CallName(callee) : ShortName(calleeFrame.Name);
        return thread.Preemptive
            ? $"{name}{where} (its thread is blocked)"
            : $"{name}{where} (its thread is running in it)";
    }

    private static bool IsUserCode(StackFrameInfo frame, MethodBase method) =>
        method.DeclaringType is { } type
        && !Ignore.IsFrameworkCode(type)
        && type.Namespace?.StartsWith("System", StringComparison.Ordinal) != true
        && type.Namespace?.StartsWith("Microsoft", StringComparison.Ordinal) != true
        && type.Assembly != typeof(RunningWork).Assembly
        && (frame.ModulePath is null || !frame.ModulePath.StartsWith(RuntimeEnvironment.GetRuntimeDirectory(), StringComparison.Ordinal));

    /// <summary><c>OrderQueue.Pump</c>, <c>OrderTests.Saves_order (lambda)</c>, an async method by its own name.</summary>
    private static string UserName(MethodBase method) =>
        method.Name == "MoveNext" && method.DeclaringType is { } type && typeof(System.Runtime.CompilerServices.IAsyncStateMachine).IsAssignableFrom(type)
            ? TypeNames.AsyncMethod(type).Display
            : TypeNames.Delegate(method).Display;

    /// <summary><c>ManualResetEventSlim.Wait()</c>, <c>Thread.Sleep(int)</c>.</summary>
    private static string CallName(MethodBase method) =>
        $"{(method.DeclaringType is { } type ? TypeNames.Display(type) + "." : "")}{method.Name}({string.Join(", ", method.GetParameters().Select(p => TypeNames.Display(p.ParameterType)))})";

    /// <summary>A runtime name without namespaces, when the method cannot be resolved here: <c>Monitor.Wait(Object, Int32)</c>.</summary>
    private static string ShortName(string name)
    {
        var open = name.IndexOf('(');
        var head = open < 0 ? name : name[..open];
        var dot = head.LastIndexOf('.');
        var typeDot = dot < 0 ? -1 : head.LastIndexOf('.', dot - 1);
        return name[(typeDot + 1)..];
    }

    /// <summary>
    /// The method the user's code calls at or after <paramref name="ilOffset"/> with the callee's type and name: the
    /// overload the source names. Otherwise the first call there of a method with the callee's name on another type: the
    /// runtime inlined the call the user wrote into the user's method, and the frame above is its implementation of the
    /// same name (on .NET 11, <c>Monitor.Wait(object)</c> runs as <c>Condition.Wait(int, object)</c>). Null when the IL
    /// says nothing better.
    /// </summary>
    private static MethodBase? CallAt(MethodBase caller, int ilOffset, MethodBase callee)
    {
        MethodBase? callHere = null;
        try
        {
            if (ilOffset < 0 || caller.GetMethodBody()?.GetILAsByteArray() is not { } il)
            {
                return null;
            }

            for (var at = ilOffset; at < il.Length && at < ilOffset + 256;)
            {
                var code = il[at] == 0xFE && at + 1 < il.Length ? (short)(0xFE00 | il[at + 1]) : il[at];
                if (!OpCodeTable.TryGetValue(code, out var op))
                {
                    return callHere;
                }

                var operand = at + op.Size;
                if ((op == OpCodes.Call || op == OpCodes.Callvirt) && operand + 4 <= il.Length)
                {
                    var token = BitConverter.ToInt32(il, operand);
                    var target = caller.Module.ResolveMethod(token, caller.DeclaringType?.GetGenericArguments(), caller.IsGenericMethod ? caller.GetGenericArguments() : null);
                    if (target is not null && target.Name == callee.Name && target.DeclaringType == callee.DeclaringType)
                    {
                        return target;
                    }

                    if (callHere is null && target is not null && target.Name == callee.Name)
                    {
                        callHere = target;
                    }
                }

                if (op == OpCodes.Ret || op == OpCodes.Throw)
                {
                    return callHere;
                }

                at = operand + OperandSize(op.OperandType, il, operand);
            }
        }
        catch (Exception)
        {
            // IL is read only to name the overload better; the stack's own frame names it otherwise.
        }

        return callHere;
    }

    private static int OperandSize(OperandType type, byte[] il, int at) => type switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, at)),
        _ => 4,
    };

    private static readonly Dictionary<short, OpCode> OpCodeTable = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(field => (OpCode)field.GetValue(null)!)
        .ToDictionary(op => op.Value);

    /// <summary>Methods of this process by module file and token: the process the stacks were read from.</summary>
    internal sealed class ModuleIndex
    {
        private readonly Dictionary<string, Module> _byPath = new(StringComparer.Ordinal);
        private readonly Dictionary<(string, int), MethodBase?> _methods = [];

        public ModuleIndex()
        {
            foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
            {
                if (!assembly.IsDynamic && assembly.Location is { Length: > 0 } location)
                {
                    _byPath.TryAdd(location, assembly.ManifestModule);
                }
            }
        }

        public MethodBase? Resolve(StackFrameInfo frame)
        {
            if (frame.ModulePath is not { } path || !_byPath.TryGetValue(path, out var module))
            {
                return null;
            }

            if (!_methods.TryGetValue((path, frame.Token), out var method))
            {
                try
                {
                    method = module.ResolveMethod(frame.Token);
                }
                catch (Exception)
                {
                    method = null;
                }

                _methods[(path, frame.Token)] = method;
            }

            return method;
        }
    }
}
