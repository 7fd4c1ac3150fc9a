using System.Runtime.CompilerServices;
using System.Threading.Channels;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// Async methods built with <see cref="PoolingAsyncValueTaskMethodBuilder"/> live in pooled boxes that are not tasks,
/// so the runtime's task tracking never lists them: the default source finds them from the work that points at them.
/// </summary>
public class PooledMethodTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = TestTimeout)]
    public async Task Pooled_method_awaiting_a_task_created_before_the_test_is_reported_at_its_await()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("pooled, outside task", async () => { _ = WaitPooledAsync(never.Task); });

        never.SetResult();
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.AsyncMethod, leak.Kind);
        Assert.Equal("PooledMethodTests.WaitPooledAsync", leak.Method);
        Assert.Equal(SourceLine.At("pooled-await"), leak.AwaitSite!.ToString());
        Assert.Equal("TaskCompletionSource.Task", leak.WaitingOn);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pooled_method_awaiting_a_task_of_the_test_is_reported_at_its_await()
    {
        TaskCompletionSource? never = null;
        var report = await Scopes.CheckAsync("pooled, own task", async () =>
        {
            never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _ = WaitPooledAsync(never.Task);
        });

        never!.SetResult();
        Assert.Equal("PooledMethodTests.WaitPooledAsync", Scopes.Single(report).Method);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pooled_method_awaited_by_an_async_method_is_the_innermost_of_its_stack()
    {
        var channel = Channel.CreateUnbounded<int>();
        var report = await Scopes.CheckAsync("pooled, awaited", async () => { _ = OuterAsync(channel.Reader); });

        channel.Writer.TryWrite(1);
        var leak = Scopes.Single(report);
        Assert.Equal("PooledMethodTests.ReadPooledAsync", leak.Method);
        Assert.StartsWith("ChannelReader<int>.ReadAsync()", leak.WaitingOn);
        Assert.Equal("PooledMethodTests.OuterAsync", Assert.Single(leak.AwaitedBy).Method);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pooled_method_that_finished_is_clean()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("pooled, finished", Scopes.Options());
        var pending = WaitPooledAsync(gate.Task);
        gate.SetResult();
        await pending;

        Scopes.Clean(await scope.EndAsync(cancellationToken: Cancel));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WaitPooledAsync(Task gate)
    {
        await gate; // @pooled-await
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<int> ReadPooledAsync(ChannelReader<int> reader) => await reader.ReadAsync();

    private static async Task OuterAsync(ChannelReader<int> reader) => await ReadPooledAsync(reader);
}
