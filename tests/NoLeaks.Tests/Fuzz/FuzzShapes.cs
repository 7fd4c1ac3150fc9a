using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace NoLeaks.Tests.Fuzz;

/// <summary>What a strand blocks on at its bottom.</summary>
internal enum Leaf
{
    Promise,
    InfiniteDelay,
    Semaphore,
    ChannelRead,
    ValueTaskSource,
    CustomAwaiter,
    WaitAsync,
    AsyncIterator,
    PoolingAwaited,
    PoolingOrphan,
    RunAsyncLambda,
    RunBlockingLambda,
    LongRunningDelegate,
    ContinueWithOnPromise,
    ContinueWithOnMethod,
    WhenAllOfTwo,
    WhenAnyWithOneDone,
    WhenAnyOfTwo,
    SocketReceive,
    PipeRead,
    WithCancellationHelper,
    AsyncVoid,
}

/// <summary>How the top of a strand is started from the test's code.</summary>
internal enum Launch
{
    Call,
    TaskRun,
    TaskRunUnderSuppressFlow,
    ContinueWith,
    StartNewOnScheduler,
    UnderSynchronizationContext,
}

/// <summary>
/// The code the fuzz harness composes: leaf methods that block on a <see cref="Gate"/>, wrappers that await them, and
/// launchers. Each method is a distinct, named piece of code, so the report can be compared with what was left pending.
/// </summary>
internal static class FuzzShapes
{
    /// <summary>The report's name of a method of this class (the engine drops the namespace).</summary>
    public static string Name(string method) => $"{nameof(FuzzShapes)}.{method}";

    public static string Lambda(string method) => $"{nameof(FuzzShapes)}.{method} (lambda)";

    public static async Task PromiseLeaf(Gate gate) => await gate.Promise.Task;

    public static async Task DelayLeaf(Gate gate) => await Task.Delay(Timeout.Infinite, gate.Token);

    public static async Task SemaphoreLeaf(Gate gate) => await gate.Semaphore.WaitAsync();

    public static async Task ChannelLeaf(Gate gate) => await gate.Channel.Reader.ReadAsync();

    public static async Task SourceLeaf(Gate gate) => await gate.Source.WaitAsync();

    public static async Task AwaiterLeaf(Gate gate) => await gate.Awaitable;

    public static async Task WaitAsyncLeaf(Gate gate) => await gate.Promise.Task.WaitAsync(TimeSpan.FromHours(1));

    public static async Task SocketLeaf(Gate gate) => await gate.Socket.ReceiveAsync(new byte[1], SocketFlags.None);

#pragma warning disable CA2022 // one byte: any read that completes reads all of it
    public static async Task PipeLeaf(Gate gate) => await gate.Pipe.ReadAsync(new byte[1]);
#pragma warning restore CA2022

    public static async Task WithCancellationLeaf(Gate gate) => await WithCancellation(gate.Promise.Task, gate.Token);

    /// <summary>The usual "await a task that does not take a token" helper (vs-threading's WithCancellation and kin).</summary>
    public static async Task WithCancellation(Task task, CancellationToken cancellation)
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (cancellation.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), cancelled))
        {
            if (await Task.WhenAny(task, cancelled.Task).ConfigureAwait(false) != task)
            {
                throw new OperationCanceledException(cancellation);
            }
        }

        await task.ConfigureAwait(false);
    }

    public static Task StartAsyncVoid(Gate gate)
    {
        VoidLeaf(gate);
        return Task.CompletedTask;
    }

    public static async void VoidLeaf(Gate gate)
    {
        try
        {
            await gate.Promise.Task;
        }
        catch (Exception)
        {
            // An async void method's exception would end the process: faulted and cancelled gates stop here.
        }
    }

    public static async Task IteratorConsumer(Gate gate)
    {
        await foreach (var _ in Iterate(gate))
        {
        }
    }

    public static async IAsyncEnumerable<int> Iterate(Gate gate)
    {
        await gate.Promise.Task;
        yield return 1;
    }

    public static async Task AwaitPooling(Gate gate) => await PoolingLeaf(gate);

    public static Task StartPoolingOrphan(Gate gate)
    {
        _ = PoolingLeaf(gate);
        return Task.CompletedTask;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public static async ValueTask PoolingLeaf(Gate gate) => await gate.Promise.Task;

    public static Task RunAsyncLeaf(Gate gate) => Task.Run(async () => await gate.Promise.Task);

    public static Task RunBlockingLeaf(Gate gate) => Task.Run(() => gate.Event.Wait());

    public static Task LongRunningLeaf(Gate gate) =>
        Task.Factory.StartNew(() => gate.Event.Wait(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static Task ContinueWithLeaf(Gate gate, TaskContinuationOptions options, TaskScheduler scheduler, bool withState) => withState
        ? gate.Promise.Task.ContinueWith((t, state) => state, gate, CancellationToken.None, options, scheduler)
        : gate.Promise.Task.ContinueWith(t => t.Status, CancellationToken.None, options, scheduler);

    public static Task ContinueWithOnMethod(Gate gate, TaskContinuationOptions options, TaskScheduler scheduler) =>
        PromiseLeaf(gate).ContinueWith(t => t.Status, CancellationToken.None, options, scheduler);

    public static async Task WhenAllLeaf(Gate gate) => await Task.WhenAll(PromiseLeaf(gate), DelayLeaf(gate));

    public static async Task WhenAnyDoneLeaf(Gate gate) => await Task.WhenAny(PromiseLeaf(gate), Task.CompletedTask);

    public static async Task WhenAnyLeaf(Gate gate) => await Task.WhenAny(PromiseLeaf(gate), DelayLeaf(gate));

    /// <summary>An async method awaiting the next level; <paramref name="free"/>: ConfigureAwait(false).</summary>
    public static async Task Wrap(Func<Task> next, bool free)
    {
        if (free)
        {
            await next().ConfigureAwait(false);
        }
        else
        {
            await next();
        }
    }

    /// <summary>The same through an async ValueTask method.</summary>
    public static async ValueTask WrapValue(Func<Task> next, bool free)
    {
        if (free)
        {
            await next().ConfigureAwait(false);
        }
        else
        {
            await next();
        }
    }

    public static Task Launch(Launch how, Func<Task> start, TaskContinuationOptions options, TaskScheduler scheduler)
    {
        switch (how)
        {
            case Fuzz.Launch.TaskRun:
                return Task.Run(start);
            case Fuzz.Launch.TaskRunUnderSuppressFlow:
                using (ExecutionContext.SuppressFlow())
                {
                    return Task.Run(start);
                }

            case Fuzz.Launch.ContinueWith:
                return Task.CompletedTask.ContinueWith(_ => start(), CancellationToken.None, options, scheduler).Unwrap();
            case Fuzz.Launch.StartNewOnScheduler:
                return Task.Factory.StartNew(start, CancellationToken.None, TaskCreationOptions.None, scheduler).Unwrap();
            case Fuzz.Launch.UnderSynchronizationContext:
                var previous = SynchronizationContext.Current;
                SynchronizationContext.SetSynchronizationContext(new PoolContext());
                try
                {
                    return start();
                }
                finally
                {
                    SynchronizationContext.SetSynchronizationContext(previous);
                }

            default:
                return start();
        }
    }

    /// <summary>A context whose posts run on the thread pool: awaits under it resume through <see cref="Post"/>.</summary>
    private sealed class PoolContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) =>
            ThreadPool.QueueUserWorkItem(static s => s.d(s.state), (d, state), preferLocal: false);

        public override SynchronizationContext CreateCopy() => new PoolContext();
    }
}
