using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace NoLeaks.Analysis;

/// <summary>
/// The code executing on the thread that ended a scope: the task it runs in (<see cref="Task.CurrentId"/>), the async
/// methods and delegates on its stack. That code is running the check, so it is not work the test left behind: a test
/// can end inside a continuation (<c>ContinueWith(…, ExecuteSynchronously)</c> completing what the test awaited resumes
/// the test inline, and the framework ends it on that stack). Captured on the ending thread; the stack is walked only
/// when a check finds a running operation, so a clean scope never pays.
/// </summary>
internal sealed class RunningHere
{
    private readonly int _threadId;
    private readonly int? _currentTaskId;
    private HashSet<Type>? _stateMachines;
    private HashSet<(Module Module, int Token)>? _methods;

    private RunningHere(int threadId, int? currentTaskId)
    {
        _threadId = threadId;
        _currentTaskId = currentTaskId;
    }

    /// <summary>Nothing is running here: for checks that no code of the scope's can be running under.</summary>
    public static RunningHere Nothing { get; } = new(-1, null);

    /// <summary>What runs on the calling thread; its stack is read later, on this thread, if a check needs it.</summary>
    public static RunningHere OnThisThread() => new(Environment.CurrentManagedThreadId, Task.CurrentId);

    /// <summary>True when the operation is executing on the thread that ended the scope.</summary>
    public bool Contains(PendingOperation operation)
    {
        if (operation.Activity != OperationActivity.Running)
        {
            return false;
        }

        if (_currentTaskId is int id && operation.TaskId == id)
        {
            return true;
        }

        if (!Walked() || _stateMachines is null || _methods is null)
        {
            return false;
        }

        if (operation.StateMachineType is { } type)
        {
            return _stateMachines.Contains(type.IsGenericType ? type.GetGenericTypeDefinition() : type);
        }

        return operation.DelegateMethod is { } method && _methods.Contains(KeyOf(method));
    }

    /// <summary>Reads the stack once, on the ending thread; elsewhere only what was read there counts.</summary>
    private bool Walked()
    {
        if (_methods is not null)
        {
            return true;
        }

        if (Environment.CurrentManagedThreadId != _threadId)
        {
            return false;
        }

        var machines = new HashSet<Type>();
        var methods = new HashSet<(Module, int)>();
        foreach (var frame in new StackTrace(fNeedFileInfo: false).GetFrames())
        {
            if (frame.GetMethod() is not { } method)
            {
                continue;
            }

            methods.Add(KeyOf(method));
            if (method is { Name: "MoveNext", DeclaringType: { } type } && typeof(IAsyncStateMachine).IsAssignableFrom(type))
            {
                machines.Add(type.IsGenericType ? type.GetGenericTypeDefinition() : type);
            }
        }

        _stateMachines = machines;
        _methods = methods;
        return true;
    }

    // Methods of generic types are compared by their definition: a frame and a delegate can name different instantiations.
    private static (Module, int) KeyOf(MethodBase method) => (method.Module, method.MetadataToken);
}
