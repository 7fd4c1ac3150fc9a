using System.Reflection;
using System.Runtime.CompilerServices;
using NoLeaks.Tracking;

namespace NoLeaks.Analysis;

/// <summary>What a source knows about an awaited object: enough to name it, whether it read it live or from the heap.</summary>
/// <param name="Type">The object's type.</param>
/// <param name="StateMachineType">For an async-method box: its state machine's type.</param>
/// <param name="DelegateMethod">For a delegate task: its delegate's method.</param>
/// <param name="DelayTimerIsNull">For a Task.Delay promise: whether its timer is null (an infinite delay).</param>
/// <param name="DelayTimerType">For a Task.Delay promise with a timer: the timer's type (the runtime's, or a TimeProvider's).</param>
internal readonly record struct AwaitedObject(Type Type, Type? StateMachineType, MethodBase? DelegateMethod, bool? DelayTimerIsNull, Type? DelayTimerType = null)
{
    /// <summary>For the task of a .NET 11 runtime-async method: what its innermost frame awaits, named.</summary>
    public string? RuntimeAsyncWaitsOn { get; init; }

    /// <summary>For a <c>Task.WaitAsync(timeout or token)</c> promise: what the task it waits on is, named.</summary>
    public string? WaitAsyncOn { get; init; }

    /// <summary>A Task.Delay on the system clock with a finite delay: a timer that fires by itself.</summary>
    public bool IsSystemTimer => Type.Name.StartsWith("DelayPromise", StringComparison.Ordinal) && DelayTimerIsNull == false
        && (DelayTimerType is null || AwaitedNames.IsSystemTimerType(DelayTimerType));
}

/// <summary>Names awaited objects the way the user wrote them: <c>TaskCompletionSource&lt;int&gt;.Task</c>, a channel read …</summary>
internal static class AwaitedNames
{
    /// <summary>
    /// The runtime's own timers: TimerQueueTimer (Task.Delay on the system clock, .NET 5 – 11) and TimeProvider.System's
    /// timer (System.Threading.Timer or a type nested in TimeProvider). Anything else belongs to a user's TimeProvider.
    /// </summary>
    internal static bool IsSystemTimerType(Type timer) =>
        timer.Assembly == typeof(object).Assembly
        && (timer.Namespace == "System.Threading" || timer.DeclaringType == typeof(TimeProvider));

    /// <summary>What a runtime's async method inside a public awaitable waits as, named as the call the user made.</summary>
    private const string SemaphoreWaitWithToken = "SemaphoreSlim.WaitAsync(), with a timeout or cancellation token";

    /// <summary>
    /// True for the state machine of an async method the runtime runs inside one of its awaitables:
    /// SemaphoreSlim.WaitUntilCountOrTimeoutAsync (.NET Core 2.0 – 11), what SemaphoreSlim.WaitAsync with a timeout or
    /// token awaits. Renamed or gone: the method is reported as itself, as any async method.
    /// </summary>
    internal static bool IsRuntimeAwaitable(Type? stateMachine) =>
        stateMachine?.DeclaringType == typeof(SemaphoreSlim) && stateMachine.Name.Contains("WaitUntilCountOrTimeoutAsync", StringComparison.Ordinal);

    public static string Describe(AwaitedObject awaited)
    {
        var type = awaited.Type;
        var name = type.Name;
        if (awaited.RuntimeAsyncWaitsOn is not null || RuntimeAsyncTasks.Is(type))
        {
            // No state machine names the method: the await line of the method awaiting it says which call it is.
            const string method = "a .NET runtime-async method (compiled without a state machine; the await line names the call)";
            return awaited.RuntimeAsyncWaitsOn is null ? method : $"{method}, which waits on {awaited.RuntimeAsyncWaitsOn}";
        }

        if (awaited.WaitAsyncOn is { } inner)
        {
            // SemaphoreSlim.WaitAsync(token) waits this way inside: the semaphore is what the user waits on.
            return inner == "SemaphoreSlim.WaitAsync()" ? SemaphoreWaitWithToken : $"{inner}, with a timeout or cancellation token (Task.WaitAsync)";
        }

        if (typeof(Task).IsAssignableFrom(type))
        {
            if (awaited.StateMachineType is { } machine)
            {
                return IsRuntimeAwaitable(machine) ? SemaphoreWaitWithToken : "async method " + TypeNames.AsyncMethod(machine).Display;
            }

            if (name.StartsWith("DelayPromise", StringComparison.Ordinal))
            {
                if (awaited.DelayTimerIsNull == true)
                {
                    return "Task.Delay(Timeout.Infinite)";
                }

                // timeProvider.Delay(…) or Task.Delay(…, timeProvider) on a provider of the user's (FakeTimeProvider …), the
                // same promise either way, so named without either call: its timer fires only when
                // that provider says so, usually when a test advances its clock.
                return awaited.DelayTimerType is { } timer && !IsSystemTimerType(timer)
                    ? $"a delay on a TimeProvider's timer ({TypeNames.Display(timer)}): it fires when that provider says so"
                    : "Task.Delay(…)";
            }

            if (name.StartsWith("CancellationPromise", StringComparison.Ordinal) && type.DeclaringType == typeof(Task))
            {
                // Task.WaitAsync(timeout or token) (.NET 6 – 11), read where the task it waits on is not known (heap mode).
                return "Task.WaitAsync(…), with a timeout or cancellation token";
            }

            if (name == "TaskNode" && type.DeclaringType == typeof(SemaphoreSlim))
            {
                return "SemaphoreSlim.WaitAsync()";
            }

            if (name.StartsWith("WhenAll", StringComparison.Ordinal))
            {
                return "Task.WhenAll(…)";
            }

            if (name.Contains("WhenAny", StringComparison.Ordinal))
            {
                return "Task.WhenAny(…)";
            }

            if (name.StartsWith("UnwrapPromise", StringComparison.Ordinal))
            {
                return "the task of an async delegate (Task.Run or Unwrap)";
            }

            // ContinuationTaskFromTask and friends (.NET Core 1.0 – 11).
            if (name.StartsWith("Continuation", StringComparison.Ordinal))
            {
                return "a ContinueWith continuation";
            }

            if (awaited.DelegateMethod is { } action)
            {
                return $"Task.Run({TypeNames.Delegate(action).Display})";
            }

            if (type == typeof(Task))
            {
                return "TaskCompletionSource.Task";
            }

            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Task<>))
            {
                return $"TaskCompletionSource<{TypeNames.Display(type.GetGenericArguments()[0])}>.Task";
            }

            return TypeNames.Display(type);
        }

        if (typeof(IAsyncStateMachine).IsAssignableFrom(type))
        {
            return "async iterator " + TypeNames.AsyncMethod(type).Display;
        }

        if (awaited.StateMachineType is { } pooled)
        {
            // A PoolingAsyncValueTaskMethodBuilder box: an async method, though not a Task.
            return "async method " + TypeNames.AsyncMethod(pooled).Display;
        }

        if (type.Namespace == "System.Threading.Channels")
        {
            // .NET 10: BlockedReadAsyncOperation<T>, BlockedWriteAsyncOperation<T>, WaitingReadAsyncOperation,
            // WaitingWriteAsyncOperation; .NET 8/9: AsyncOperation<T>, VoidAsyncOperationWithData<T>.
            var item = type.IsGenericType ? TypeNames.Display(type.GetGenericArguments()[0]) : "T";
            return name switch
            {
                _ when name.StartsWith("WaitingRead", StringComparison.Ordinal) =>
                    "ChannelReader.WaitToReadAsync() on a channel nobody writes to or completes",
                _ when name.StartsWith("WaitingWrite", StringComparison.Ordinal) =>
                    "ChannelWriter.WaitToWriteAsync() on a full channel",
                _ when name.StartsWith("BlockedWrite", StringComparison.Ordinal) || name.StartsWith("VoidAsyncOperationWithData", StringComparison.Ordinal) =>
                    $"ChannelWriter<{item}>.WriteAsync() on a full channel",

                // .NET 8/9 wait for a reader or a writer with the same AsyncOperation<bool> as a read of a channel of bool.
                _ when name.StartsWith("AsyncOperation", StringComparison.Ordinal) && type.IsGenericType && type.GetGenericArguments()[0] == typeof(bool) =>
                    "ChannelReader.WaitToReadAsync() on a channel nobody writes to or completes, or ChannelWriter.WaitToWriteAsync() "
                    + "on a full channel, or ReadAsync() on a channel of bool (this runtime's channels do not tell them apart)",
                _ => $"ChannelReader<{item}>.ReadAsync() on a channel nobody writes to or completes",
            };
        }

        if (type.Namespace == "System.IO.Pipelines" && type.DeclaringType?.Name == "Pipe")
        {
            // Pipe.DefaultPipeReader / DefaultPipeWriter (System.IO.Pipelines 4.5 – 10): the value-task source of a read
            // or a flush on a Pipe.
            return name.Contains("Writer", StringComparison.Ordinal)
                ? "PipeWriter.FlushAsync() on a pipe nobody reads from or completes"
                : "PipeReader.ReadAsync() on a pipe nobody writes to or completes";
        }

        if (type.DeclaringType == typeof(PeriodicTimer))
        {
            return "PeriodicTimer.WaitForNextTickAsync()";
        }

        return TypeNames.Display(type);
    }
}
