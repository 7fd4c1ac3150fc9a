using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NoLeaks.Analysis;

/// <summary>
/// Says what running work is doing on its thread: the call its code is blocked in and the line of that call
/// (<c>ManualResetEventSlim.Wait() at Tests.cs:42 (its thread is blocked)</c>), or the line it is busy at. Only for
/// a report that has running delegate tasks or async methods, with one read of every thread's stack (<see cref="ThreadStacks"/>).
/// A thread is matched to its work by the task it is executing (the task's id; in another process, also the task object's
/// address), never by guess: unmatched work keeps its text.
/// </summary>
internal static class RunningWork
{
    /// <summary>What a running delegate task waits on when its thread's stack is not read.</summary>
    internal const string StillRunning = "nothing: its delegate is still running";

    /// <summary>The leaks, the running ones described from their threads' stacks; what could not be read is a warning.</summary>
    public static List<TaskLeak> Describe(List<TaskLeak> leaks, NoLeaksOptions options, List<string> warnings)
    {
        if (!leaks.Exists(leak => leak.IsRunning && leak.RunningTasks.Any(task => task.Id != 0)))
        {
            return leaks;
        }

        var asked = FromEnvironment ?? options.ReadThreadStacks;
        if (asked == false || (asked is null && !MayReadUnasked))
        {
            return leaks;
        }

        // Unasked (the default), a read that cannot be made is said once in the process and not tried again: a machine
        // that refuses ptrace would otherwise put the same warning in every report.
        var said = asked is null ? new List<string>() : warnings;
        try
        {
            leaks = DescribeFromStacks(leaks, options.StackReaderPath, said);
        }
        catch (Exception e)
        {
            // A better text for running work is a detail of the report, never a reason to lose it.
            said.Add($"what the running work is doing on its thread could not be described: {e.GetType().Name}: {e.Message}");
        }

        if (asked is null && said.Count > 0)
        {
            s_unaskedFailed = true;
            warnings.AddRange(said.Select(warning => warning + " Thread stacks are not read again in this process unless asked for."));
        }

        return leaks;
    }

    private static bool s_unaskedFailed;

    /// <summary>
    /// Off in the repository's own test projects unless a test turns it on (see <see cref="MayReadUnasked"/>): a read
    /// costs a child process's start, and their tests count on knowing which reports read.
    /// </summary>
    internal static bool ReadsUnasked { get; set; } = true;

    /// <summary>
    /// Whether stacks are read when the options leave it open: on Linux, the only place the child can read them, unless a
    /// read that was not asked for failed before in this process. The child stops the threads a few milliseconds at a
    /// time (every thread while the runtime's shared records are read, then the one whose stack is read), so tests running
    /// beside the reported one go on.
    /// </summary>
    private static bool MayReadUnasked =>
        ReadsUnasked && OperatingSystem.IsLinux() && !Volatile.Read(ref s_unaskedFailed);

    private static List<TaskLeak> DescribeFromStacks(List<TaskLeak> leaks, string? stackReaderPath, List<string> warnings)
    {
        // By task id only: a heap source's addresses are those of a snapshot read before the stacks, and a GC may have
        // moved objects since (another task can be at that address now).
        var wanted = leaks.Where(leak => leak.IsRunning).SelectMany(leak => leak.RunningTasks).Where(task => task.Id != 0).Select(ById).ToList();
        TaskThreads? threads = null;
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

            threads = new TaskThreads(stacks);
            if (wanted.All(threads.Has))
            {
                break;
            }
        }

        // The code each running task runs (its delegate, an async method's MoveNext): for a stack without its frame.
        var code = new Dictionary<int, MethodBase?>();
        foreach (var operation in leaks.Where(leak => leak.IsRunning).SelectMany(leak => leak.Operations).Where(operation => operation.TaskId != 0))
        {
            code.TryAdd(operation.TaskId, operation.DelegateMethod ?? operation.StateMachineType?.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic));
        }

        var modules = new ModuleIndex();
        return Describe(leaks, task => task.Id != 0 && threads!.ThreadOf(ById(task)) is { } thread ? Describe(thread, modules, code.GetValueOrDefault(task.Id)) : null);
    }

    private static RunningTask ById(RunningTask task) => task with { Address = 0 };

    /// <summary>
    /// The leaks with their running operations described by <paramref name="doing"/> (null: the leak's own text stays).
    /// Operations counted together may be doing different things: one entry per thing they do.
    /// </summary>
    internal static List<TaskLeak> Describe(List<TaskLeak> leaks, Func<RunningTask, string?> doing)
    {
        var described = new List<TaskLeak>(leaks.Count);
        foreach (var leak in leaks)
        {
            if (!leak.IsRunning || leak.RunningTasks.Count == 0)
            {
                described.Add(leak);
                continue;
            }

            var groups = leak.RunningTasks
                .Select(task => doing(task) ?? leak.WaitingOn)
                .Concat(Enumerable.Repeat(leak.WaitingOn, Math.Max(0, leak.Count - leak.RunningTasks.Count)))
                .GroupBy(text => text, StringComparer.Ordinal);
            foreach (var group in groups)
            {
                described.Add(leak.WithWaitingOn(group.Key, group.Count()));
            }
        }

        return described;
    }

    /// <summary>
    /// What the tasks these threads execute are doing, named now: for another process, whose assemblies are read only
    /// while it is open. Every thread that executes a task is described, whether or not a leak needs it.
    /// </summary>
    internal static Func<RunningTask, string?> DescribeNow(IReadOnlyList<ThreadStack> stacks, ModuleIndex modules)
    {
        var threads = new TaskThreads(stacks);
        var texts = new Dictionary<ThreadStack, string?>(ReferenceEqualityComparer.Instance);
        foreach (var thread in stacks.Where(t => t.TaskIds.Count > 0 || t.TaskAddresses.Count > 0))
        {
            try
            {
                texts[thread] = Describe(thread, modules);
            }
            catch (Exception)
            {
                // A thread that cannot be described keeps its leak's text.
                texts[thread] = null;
            }
        }

        return task => threads.ThreadOf(task) is { } thread ? texts.GetValueOrDefault(thread) : null;
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
    /// <param name="thread">The thread's stack.</param>
    /// <param name="modules">The methods of the process the stack is from.</param>
    /// <param name="running">The code the thread's task runs (its delegate's method, an async method's MoveNext), when
    /// known: where no frame of it is on the stack, the one call of its that leads to the stack's innermost calls is
    /// named, with its line.</param>
    internal static string? Describe(ThreadStack thread, ModuleIndex modules, MethodBase? running = null)
    {
        var frames = thread.Frames;
        var user = -1;
        MethodBase? userMethod = null;
        for (var i = 0; i < frames.Count; i++)
        {
            if (modules.Resolve(frames[i]) is { } method && IsUserCode(frames[i], method, modules))
            {
                (user, userMethod) = (i, method);
                break;
            }
        }

        if (userMethod is null)
        {
            return (running is null ? null : InlinedCall(thread, modules, running)) ?? WithoutUserFrame(thread, modules);
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

    /// <summary>
    /// The call <paramref name="running"/> made that the stack's innermost calls (those above the runtime's code that runs
    /// the task) are inside, read from its IL when no frame of it is on the stack (the JIT inlined it, and the calls it
    /// made, into the code that runs it): the one call of its from which the IL leads, within a few calls, to a method
    /// whose frame is on the stack. Null when none does, or more than one call does (the stack does not say which).
    /// </summary>
    private static string? InlinedCall(ThreadStack thread, ModuleIndex modules, MethodBase running)
    {
        var onStack = new HashSet<MethodBase>();
        var holders = new HashSet<(Type, string)>();
        foreach (var method in CallsAboveTheRunner(thread, modules))
        {
            onStack.Add(method);
            if (HolderName(method) is { } holder)
            {
                holders.Add((method.DeclaringType!, holder));
            }
        }

        if (onStack.Count == 0)
        {
            return null;
        }

        bool OnStack(MethodBase method) => onStack.Contains(method) || (method.DeclaringType is { } type && holders.Contains((type, method.Name)));

        (int Offset, MethodBase Callee)? found = null;
        var visited = 0;
        foreach (var (offset, callee) in CallsIn(running))
        {
            if (Reaches(callee, OnStack, depth: 4, new HashSet<MethodBase>(), ref visited))
            {
                if (found is not null)
                {
                    return null;
                }

                found = (offset, callee);
            }
        }

        if (found is not { } call || AwaitSiteResolver.Shared.LineAt(running, call.Offset) is not { FilePath: not null } site)
        {
            return null;
        }

        return $"{CallName(call.Callee)} at {site.FileName}:{site.Line} (its thread is {(thread.Preemptive ? "blocked" : "running in it")})";
    }

    /// <summary>Whether <paramref name="method"/> is, or calls within <paramref name="depth"/> calls, a method on the stack.</summary>
    private static bool Reaches(MethodBase method, Func<MethodBase, bool> onStack, int depth, HashSet<MethodBase> seen, ref int visited)
    {
        if (onStack(method))
        {
            return true;
        }

        // A bound on the methods read: the framework's call graphs are wide.
        if (depth == 0 || !seen.Add(method) || ++visited > 4_000)
        {
            return false;
        }

        foreach (var (_, callee) in CallsIn(method))
        {
            if (Reaches(callee, onStack, depth - 1, seen, ref visited))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The methods of the stack's frames, innermost first, up to the runtime's code that runs the task (<c>Task</c>,
    /// <c>ExecutionContext</c>): the calls made by the task's code; IL stubs and unnamed frames left out.
    /// </summary>
    private static IEnumerable<MethodBase> CallsAboveTheRunner(ThreadStack thread, ModuleIndex modules)
    {
        foreach (var frame in thread.Frames)
        {
            if (modules.Resolve(frame) is not { DeclaringType: { } type } method || type.Name.StartsWith("ILStub", StringComparison.Ordinal))
            {
                continue;
            }

            if (type == typeof(Task) || type == typeof(ExecutionContext))
            {
                yield break;
            }

            yield return method;
        }
    }

    /// <summary>The method a local function (a P/Invoke's generated stub among them) is declared in, by name; null for another method.</summary>
    private static string? HolderName(MethodBase method) =>
        method.Name is ['<', ..] local && local.IndexOf('>') is > 1 and var end && local.AsSpan(end).StartsWith(">g__") ? local[1..end] : null;

    /// <summary>
    /// What a thread whose stack holds no frame of the user's code is in: its innermost call a user could have made (a
    /// public method of a public type; a stub's or a local function's by the method that holds it). Met when the JIT
    /// inlined the user's delegate into the runtime's code that runs it (dynamic PGO, once that code is hot: the delegate
    /// and the calls it made have no frames of their own), and when the delegate is the framework's own method. Null
    /// when no frame is named.
    /// </summary>
    private static string? WithoutUserFrame(ThreadStack thread, ModuleIndex modules)
    {
        string? innermost = null;
        foreach (var method in CallsAboveTheRunner(thread, modules))
        {
            var type = method.DeclaringType!;

            // A local function (a P/Invoke's generated stub among them) stands for the method it is declared in.
            var name = HolderName(method);
            var shown = name is not null ? $"{TypeNames.Display(type)}.{name}(…)" : CallName(method);
            innermost ??= shown;
            if (type.IsVisible && (name is not null ? type.GetMethods().Any(m => m.Name == name) : method.IsPublic))
            {
                innermost = shown;
                break;
            }
        }

        return innermost is null
            ? null
            : $"{innermost} (its thread is {(thread.Preemptive ? "blocked" : "running in it")}; no frame of the code that called it is on the stack, so its line is not known)";
    }

    private static bool IsUserCode(StackFrameInfo frame, MethodBase method, ModuleIndex modules) =>
        method.DeclaringType is { } type
        && !Ignore.IsFrameworkCode(type)
        && type.Namespace?.StartsWith("System", StringComparison.Ordinal) != true
        && type.Namespace?.StartsWith("Microsoft", StringComparison.Ordinal) != true
        && type.Assembly != typeof(RunningWork).Assembly
        && (frame.ModulePath is null || modules.RuntimeDirectory.Length == 0 || !frame.ModulePath.StartsWith(modules.RuntimeDirectory, StringComparison.Ordinal));

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
    /// same name (on .NET 11, <c>Monitor.Wait(object)</c> runs as <c>Condition.Wait(int, object)</c>). When the callee is
    /// not public (the user cannot have called it: the public method that did was inlined), the first call there of a
    /// public method of the callee's type, of its generic siblings, or, for the awaiters' shared helpers, of a
    /// <c>GetResult</c> (<c>task.GetAwaiter().GetResult()</c> runs as
    /// <c>TaskAwaiter.HandleNonSuccessAndDebuggerNotification</c>). Null when the IL says nothing better.
    /// </summary>
    private static MethodBase? CallAt(MethodBase caller, int ilOffset, MethodBase callee)
    {
        MethodBase? sameName = null, inlinedPublic = null;
        var calleeIsPublic = callee.IsPublic && callee.DeclaringType is { IsVisible: true };
        foreach (var target in CallsFrom(caller, ilOffset))
        {
            if (target.Name == callee.Name && target.DeclaringType == callee.DeclaringType)
            {
                return target;
            }

            if (sameName is null && target.Name == callee.Name)
            {
                sameName = target;
            }

            if (!calleeIsPublic && inlinedPublic is null && target.IsPublic && target.DeclaringType is { IsVisible: true } type
                && callee.DeclaringType is { } calleeType
                && (Family(type) == Family(calleeType) || (calleeType == typeof(TaskAwaiter) && target.Name == nameof(TaskAwaiter.GetResult))))
            {
                inlinedPublic = target;
            }
        }

        return sameName ?? inlinedPublic;
    }

    /// <summary><c>TaskAwaiter</c> for <c>TaskAwaiter`1</c>: a type's name without its generic arity, in its namespace.</summary>
    private static string Family(Type type)
    {
        var tick = type.Name.IndexOf('`');
        return $"{type.Namespace}.{(tick < 0 ? type.Name : type.Name[..tick])}";
    }

    /// <summary>The methods <paramref name="caller"/> calls from <paramref name="ilOffset"/> to its next return or throw (256 bytes at most).</summary>
    private static IEnumerable<MethodBase> CallsFrom(MethodBase caller, int ilOffset) =>
        Calls(caller, ilOffset, untilReturn: true).Select(call => call.Callee);

    /// <summary>Every method <paramref name="caller"/>'s IL calls, with the offset of each call.</summary>
    private static List<(int Offset, MethodBase Callee)> CallsIn(MethodBase caller) => Calls(caller, 0, untilReturn: false);

    private static List<(int Offset, MethodBase Callee)> Calls(MethodBase caller, int ilOffset, bool untilReturn)
    {
        var calls = new List<(int, MethodBase)>();
        try
        {
            if (ilOffset < 0 || caller.GetMethodBody()?.GetILAsByteArray() is not { } il)
            {
                return calls;
            }

            var end = untilReturn ? Math.Min(il.Length, ilOffset + 256) : il.Length;
            for (var at = ilOffset; at < end;)
            {
                var code = il[at] == 0xFE && at + 1 < il.Length ? (short)(0xFE00 | il[at + 1]) : il[at];
                if (!OpCodeTable.TryGetValue(code, out var op))
                {
                    return calls;
                }

                var operand = at + op.Size;
                if ((op == OpCodes.Call || op == OpCodes.Callvirt) && operand + 4 <= il.Length)
                {
                    var token = BitConverter.ToInt32(il, operand);
                    if (caller.Module.ResolveMethod(token, caller.DeclaringType?.GetGenericArguments(), caller.IsGenericMethod ? caller.GetGenericArguments() : null) is { } target)
                    {
                        calls.Add((at, target));
                    }
                }

                if (untilReturn && (op == OpCodes.Ret || op == OpCodes.Throw))
                {
                    return calls;
                }

                at = operand + OperandSize(op.OperandType, il, operand);
            }
        }
        catch (Exception)
        {
            // IL is read only to name a call better; the stack's own frames name it otherwise.
        }

        return calls;
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

    /// <summary>
    /// The methods of the process the stacks were read from, by module file and token: this process's by default, or
    /// another process's through the modules its reader loaded for reflection.
    /// </summary>
    internal sealed class ModuleIndex
    {
        private readonly Func<string, Module?> _moduleAt;
        private readonly Dictionary<(string, int), MethodBase?> _methods = [];

        /// <summary>This process's modules.</summary>
        public ModuleIndex()
        {
            var byPath = new Dictionary<string, Module>(StringComparer.Ordinal);
            foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
            {
                if (!assembly.IsDynamic && assembly.Location is { Length: > 0 } location)
                {
                    byPath.TryAdd(location, assembly.ManifestModule);
                }
            }

            _moduleAt = path => byPath.GetValueOrDefault(path);
            RuntimeDirectory = RuntimeEnvironment.GetRuntimeDirectory();
        }

        /// <summary>Another process's modules, found by the file it loaded each from.</summary>
        /// <param name="moduleAt">The module loaded here for the target's file; null when it has none to read.</param>
        /// <param name="runtimeDirectory">The folder of the target's runtime: its frames are not the user's code.</param>
        public ModuleIndex(Func<string, Module?> moduleAt, string runtimeDirectory)
        {
            _moduleAt = moduleAt;
            RuntimeDirectory = runtimeDirectory;
        }

        /// <summary>The folder of the runtime the stacks' process runs on.</summary>
        public string RuntimeDirectory { get; }

        public MethodBase? Resolve(StackFrameInfo frame)
        {
            if (frame.ModulePath is not { } path)
            {
                return null;
            }

            if (!_methods.TryGetValue((path, frame.Token), out var method))
            {
                try
                {
                    method = _moduleAt(path)?.ResolveMethod(frame.Token);
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

/// <summary>A running operation of a leak: its task id (0: it has none) and its heap address (0: not read from a heap).</summary>
internal readonly record struct RunningTask(int Id, ulong Address)
{
    /// <summary>The operation's id and address, or null when it has neither.</summary>
    public static RunningTask? Of(PendingOperation operation)
    {
        // A heap source names an operation by its address (Heap.HeapKey): a task nobody asked the id of has none.
        var address = operation.Keys.OfType<Heap.HeapKey>().FirstOrDefault()?.Address ?? 0;
        return operation.TaskId != 0 || address != 0 ? new RunningTask(operation.TaskId, address) : null;
    }
}

/// <summary>The thread executing each task, by task id and by address; none for a task seen on two threads.</summary>
internal sealed class TaskThreads
{
    private readonly Dictionary<int, ThreadStack?> _byId = [];
    private readonly Dictionary<ulong, ThreadStack?> _byAddress = [];

    public TaskThreads(IReadOnlyList<ThreadStack> stacks)
    {
        foreach (var thread in stacks)
        {
            foreach (var id in thread.TaskIds)
            {
                _byId[id] = _byId.ContainsKey(id) ? null : thread;
            }

            foreach (var address in thread.TaskAddresses)
            {
                _byAddress[address] = _byAddress.ContainsKey(address) ? null : thread;
            }
        }
    }

    /// <summary>True when a thread was seen executing the task (or two were: then it is not told apart).</summary>
    public bool Has(RunningTask task) => (task.Address != 0 && _byAddress.ContainsKey(task.Address)) || (task.Id != 0 && _byId.ContainsKey(task.Id));

    /// <summary>The one thread executing the task, by its address first (the object itself), then by its id.</summary>
    public ThreadStack? ThreadOf(RunningTask task) =>
        task.Address != 0 && _byAddress.TryGetValue(task.Address, out var byAddress) ? byAddress
        : task.Id != 0 && _byId.TryGetValue(task.Id, out var byId) ? byId
        : null;
}
