using System.Reflection;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace NoLeaks.Analysis;

/// <summary>
/// Turns a scope's pending operations into leaks: one per logical async stack, named from its innermost pending
/// method, with the chain of methods awaiting it up to the root. Identical stacks are counted together.
/// </summary>
internal sealed class LeakAnalyzer(AwaitSiteResolver sites)
{
    private const int MaxChainDepth = 64;

    /// <param name="operations">The scope's pending operations.</param>
    /// <param name="engineObjects">The engine's own tasks: whatever awaits them is waiting for the check, not leaked.</param>
    /// <param name="runningHere">The code executing on the thread that ended the scope (the code calling EndAsync, a
    /// continuation the test ended inside): running the check, not left behind.</param>
    /// <param name="now">The timestamp ages are measured to.</param>
    /// <param name="group">False: one entry per operation, identical stacks not counted together (<c>noleaks stacks --all</c>).</param>
    public List<TaskLeak> Analyze(
        IReadOnlyList<PendingOperation> operations, ISet<object> engineObjects, RunningHere runningHere, long now, bool group = true)
    {
        var byKey = new Dictionary<object, PendingOperation>(ReferenceEqualityComparer.Instance);
        foreach (var operation in operations)
        {
            foreach (var key in operation.Keys)
            {
                byKey.TryAdd(key, operation);
            }
        }

        // Who awaits whom: from the awaiter a state machine holds, and from the continuations a task holds.
        var parents = new Dictionary<PendingOperation, List<PendingOperation>>(ReferenceEqualityComparer.Instance);
        var links = new HashSet<(PendingOperation Child, PendingOperation Parent)>(LinkComparer.Instance);
        foreach (var operation in operations)
        {
            if (operation.AwaitedKey is not null && byKey.TryGetValue(operation.AwaitedKey, out var child) && child != operation)
            {
                AddParent(parents, links, child, operation);
            }

            foreach (var key in operation.ContinuationKeys)
            {
                if (byKey.TryGetValue(key, out var parent) && parent != operation)
                {
                    AddParent(parents, links, operation, parent);
                }
            }
        }

        // A runtime-async method (.NET 11) awaited by code with a name is what that code waits on, not an entry of its
        // own: its method cannot be named, the awaiting one can.
        // So is an async method the runtime uses inside an awaitable of its own (SemaphoreSlim.WaitAsync with a timeout or
        // token): the code awaiting it is the user's, and names it better than the runtime's internal method.
        var awaitedByNamedCode = operations
            .Where(o => (o.Kind == OperationKind.RuntimeAsyncMethod || AwaitedNames.IsRuntimeAwaitable(o.StateMachineType))
                && Ancestors(o, parents).Any(a => a.Kind is not (OperationKind.Promise or OperationKind.RuntimeAsyncMethod)))
            .ToHashSet(ReferenceEqualityComparer.Instance);
        bool IsReportable(PendingOperation operation) => operation.Kind != OperationKind.Promise && !awaitedByNamedCode.Contains(operation);

        // An operation with a pending reportable operation below it is part of that one's stack, not a stack of its own.
        var hasReportableBelow = new HashSet<PendingOperation>(ReferenceEqualityComparer.Instance);
        foreach (var operation in operations.Where(IsReportable))
        {
            foreach (var ancestor in Ancestors(operation, parents))
            {
                hasReportableBelow.Add(ancestor);
            }
        }

        // Work a timer will wake, and everything waiting on it: a continuation above such work will run by itself.
        var woken = new HashSet<PendingOperation>(ReferenceEqualityComparer.Instance);
        foreach (var operation in operations.Where(o => o.WaitsOnTimer))
        {
            woken.Add(operation);
            woken.UnionWith(Ancestors(operation, parents));
        }

        // Work suspended on something that has completed is on its way back, unless a scheduler of the user's holds the
        // step that resumes it.
        var heldBack = operations.Where(o => o.HoldsResumption)
            .SelectMany(o => parents.TryGetValue(o, out var resumed) ? resumed : [])
            .ToHashSet(ReferenceEqualityComparer.Instance);

        // The engine's own tasks by id too: a heap source names objects by address, not by the live task.
        var engineTaskIds = engineObjects.OfType<Task>().Select(t => t.Id).ToHashSet();
        // The engine's own work, or work awaiting it through any chain of awaits: a framework's hook that awaits the check
        // (xunit v3's asynchronous test notification, through the adapter's own async methods) waits for the check.
        bool WaitsForTheCheck(PendingOperation operation)
        {
            var seen = new HashSet<PendingOperation>(ReferenceEqualityComparer.Instance);
            for (var current = operation; seen.Add(current);)
            {
                if (current.IsEngineOwn || (current.TaskId != 0 && engineTaskIds.Contains(current.TaskId)))
                {
                    return true;
                }

                if (current.AwaitedKey is not { } awaited)
                {
                    return false;
                }

                if (engineObjects.Contains(awaited))
                {
                    return true;
                }

                if (!byKey.TryGetValue(awaited, out var next))
                {
                    return false;
                }

                current = next;
            }

            return false;
        }

        var leaks = new List<TaskLeak>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var innermost in operations.Where(o => IsReportable(o) && !hasReportableBelow.Contains(o)))
        {
            if (WaitsForTheCheck(innermost)
                || runningHere.Contains(innermost)
                || (innermost.Resuming && !heldBack.Contains(innermost)))
            {
                // The caller awaiting the engine's own end-of-scope check, code running the check right now, or work
                // whose resumption is on its way (what it waits on has completed): not work the test left behind.
                continue;
            }

            // A continuation that has not started, on an antecedent that nothing the scope left running or scheduled
            // will complete (a tripwire on a promise nobody completes): dormant.
            var dormant = innermost.Kind == OperationKind.Continuation && innermost.Activity == OperationActivity.NotStarted
                && !woken.Contains(innermost);
            var leak = Describe(innermost, parents, now, dormant, IsReportable);
            if (group && index.TryGetValue(leak.StackKey, out var at))
            {
                leaks[at] = leaks[at].WithOneMore(leak);
            }
            else
            {
                index[leak.StackKey] = leaks.Count;
                leaks.Add(leak);
            }
        }

        return leaks;
    }

    private TaskLeak Describe(
        PendingOperation innermost, Dictionary<PendingOperation, List<PendingOperation>> parents, long now, bool dormant,
        Func<PendingOperation, bool> isReportable)
    {
        var chain = new List<AsyncFrame>();
        var root = innermost;
        var visited = new HashSet<PendingOperation>(ReferenceEqualityComparer.Instance) { innermost };
        var current = innermost;
        while (chain.Count < MaxChainDepth && parents.TryGetValue(current, out var above))
        {
            var next = above.FirstOrDefault(p => !visited.Contains(p));
            if (next is null)
            {
                break;
            }

            visited.Add(next);
            current = next;
            if (isReportable(next))
            {
                chain.Add(Frame(next) with { IsContinuation = next.Kind == OperationKind.Continuation });
                root = next;
            }
        }

        var creator = root.CreatedTimestamp != 0 ? root : innermost;
        var age = creator.CreatedTimestamp == 0 ? (TimeSpan?)null : Stopwatch.GetElapsedTime(creator.CreatedTimestamp, now);
        return new TaskLeak(
            innermost.Kind switch
            {
                OperationKind.Continuation when dormant => LeakKind.DormantContinuation,
                OperationKind.DelegateTask => LeakKind.DelegateTask,
                OperationKind.Continuation => LeakKind.Continuation,
                OperationKind.AbandonedAsyncMethod => LeakKind.AbandonedAsyncMethod,
                _ => LeakKind.AsyncMethod,
            },
            Frame(innermost),
            chain,
            innermost.WaitingOn,
            (creator.CreatedBy ?? $"test {creator.ScopeName}") + CreationSite(creator),
            FormatCreationStack(creator.CreationStack),
            innermost.ScopeName,
            age,
            count: 1)
        {
            Operations = [innermost, .. visited.Where(o => o != innermost)],
            IsRunning = innermost.Activity == OperationActivity.Running,
            RunningTasks = innermost.Activity == OperationActivity.Running && RunningTask.Of(innermost) is { } running ? [running] : [],
            HostedService = HostedServices.Describe(ChainOf(innermost, parents), sites) ?? ServiceProviders.Describe(ChainOf(innermost, parents), sites),
            CreatedInTest = creator.CreatedInTest,
            TimerDue = innermost.TimerDueTimestamp,
        };
    }

    /// <summary>The operation and those above it, innermost first, along the first parent (as the reported chain).</summary>
    private static IEnumerable<PendingOperation> ChainOf(PendingOperation innermost, Dictionary<PendingOperation, List<PendingOperation>> parents)
    {
        var visited = new HashSet<PendingOperation>(ReferenceEqualityComparer.Instance);
        for (var current = innermost; current is not null && visited.Add(current) && visited.Count <= MaxChainDepth;
             current = parents.TryGetValue(current, out var above) ? above.FirstOrDefault(p => !visited.Contains(p)) : null)
        {
            yield return current;
        }
    }

    private AsyncFrame Frame(PendingOperation operation)
    {
        if (operation.StateMachineType is { } type)
        {
            var (display, full) = TypeNames.AsyncMethod(type);
            return new AsyncFrame(display, full, sites.Resolve(type, operation.State)) { Code = type.FullName };
        }

        if (operation.Kind == OperationKind.RuntimeAsyncMethod)
        {
            // .NET 11 does not expose the method of a runtime-async task (see RuntimeAsyncTasks): named as what it is.
            const string name = "a .NET runtime-async method";
            return new AsyncFrame(name, name, null) { Code = name };
        }

        if (operation.DelegateMethod is { } method)
        {
            var (display, full) = TypeNames.Delegate(method);
            return new AsyncFrame(display, full, sites.FirstLine(method) ?? AsyncBodyFirstLine(method))
            {
                Code = $"{method.Module.ModuleVersionId}:{method.MetadataToken}",
            };
        }

        return new AsyncFrame($"task #{operation.TaskId}", $"task #{operation.TaskId}", null);
    }

    /// <summary>
    /// An async lambda's delegate is a stub with no lines of its own (its body is its state machine's MoveNext): the first
    /// line of that body, found through the stub's <see cref="AsyncStateMachineAttribute"/>.
    /// </summary>
    private AwaitSite? AsyncBodyFirstLine(MethodBase method)
    {
        try
        {
            return method.GetCustomAttribute<AsyncStateMachineAttribute>()?.StateMachineType
                .GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, Type.EmptyTypes) is { } moveNext
                ? sites.FirstLine(moveNext)
                : null;
        }
        catch (Exception)
        {
            // Dynamic methods and the like: no line, the frame is still named.
            return null;
        }
    }

    private static void AddParent(
        Dictionary<PendingOperation, List<PendingOperation>> parents,
        HashSet<(PendingOperation Child, PendingOperation Parent)> links,
        PendingOperation child,
        PendingOperation parent)
    {
        // A task awaited by 10,000 methods has 10,000 parents: the set keeps adding them linear.
        if (!links.Add((child, parent)))
        {
            return;
        }

        if (!parents.TryGetValue(child, out var list))
        {
            parents[child] = list = [];
        }

        list.Add(parent);
    }

    private sealed class LinkComparer : IEqualityComparer<(PendingOperation Child, PendingOperation Parent)>
    {
        public static readonly LinkComparer Instance = new();

        public bool Equals((PendingOperation Child, PendingOperation Parent) x, (PendingOperation Child, PendingOperation Parent) y) =>
            ReferenceEquals(x.Child, y.Child) && ReferenceEquals(x.Parent, y.Parent);

        public int GetHashCode((PendingOperation Child, PendingOperation Parent) link) =>
            HashCode.Combine(RuntimeHelpers.GetHashCode(link.Child), RuntimeHelpers.GetHashCode(link.Parent));
    }

    private static IEnumerable<PendingOperation> Ancestors(
        PendingOperation operation, Dictionary<PendingOperation, List<PendingOperation>> parents)
    {
        var seen = new HashSet<PendingOperation>(ReferenceEqualityComparer.Instance) { operation };
        var queue = new Queue<PendingOperation>();
        queue.Enqueue(operation);
        while (queue.Count > 0)
        {
            if (!parents.TryGetValue(queue.Dequeue(), out var above))
            {
                continue;
            }

            foreach (var parent in above)
            {
                if (seen.Add(parent))
                {
                    queue.Enqueue(parent);
                    yield return parent;
                }
            }
        }
    }

    /// <summary>" at File.cs:23": where the creator's code started the operation, when creation stacks are captured.</summary>
    private string CreationSite(PendingOperation created)
    {
        if (created.CreationStack is not { } stack)
        {
            return "";
        }

        // Skip the runtime and the engine, then the created async method itself (its kickoff stub and MoveNext):
        // the next frame with a source line is the line that called it.
        var ownType = created.StateMachineType;
        foreach (var frame in stack.GetFrames())
        {
            var method = frame.GetMethod();
            var type = method?.DeclaringType;
            if (method is null || type is null || IsInfrastructure(type)
                || type == ownType
                || (ownType is not null && type == ownType.DeclaringType && ownType.Name.StartsWith($"<{method.Name}>", StringComparison.Ordinal)))
            {
                continue;
            }

            return sites.LineAt(method, frame.GetILOffset()) is { FilePath: not null } site ? $" at {site.FileName}:{site.Line}" : "";
        }

        return "";
    }

    private static bool IsInfrastructure(Type type) =>
        type.Namespace is { } ns
        && (ns.StartsWith("System", StringComparison.Ordinal) || ns == "NoLeaks.Tracking" || (ns == "NoLeaks" && type.Name == "LeakEngine"));

    /// <summary>
    /// The creation stack as .NET prints it, lines read from the PDB: from the first frame of the user's code to the
    /// test framework's invoker, the async plumbing between user frames left out.
    /// </summary>
    private string? FormatCreationStack(StackTrace? stack)
    {
        if (stack is null)
        {
            return null;
        }

        var lines = new List<string>();
        foreach (var frame in stack.GetFrames())
        {
            var method = frame.GetMethod();
            var type = method?.DeclaringType;
            if (method is null || type is null)
            {
                continue;
            }

            var ns = type.Namespace ?? "";
            if (ns.StartsWith("System.Reflection", StringComparison.Ordinal) || ns.StartsWith("Xunit", StringComparison.Ordinal)
                || ns.StartsWith("NUnit", StringComparison.Ordinal))
            {
                break;
            }

            if (IsInfrastructure(type) && (lines.Count == 0 || ns.StartsWith("System.Runtime.CompilerServices", StringComparison.Ordinal)))
            {
                continue;
            }

            var where = sites.LineAt(method, frame.GetILOffset()) is { FilePath: { } file } site ? $" in {file}:line {site.Line}" : "";
            lines.Add($"at {type.FullName?.Replace('+', '.')}.{method.Name}{where}");
            if (lines.Count == 20)
            {
                break;
            }
        }

        return string.Join(Environment.NewLine, lines);
    }
}
