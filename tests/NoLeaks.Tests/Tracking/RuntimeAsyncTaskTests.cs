using System.IO.Pipes;
using NoLeaks.Tests.Support;
using NoLeaks.Tracking;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// .NET 11 "runtime async" methods (no compiler state machine; .NET 11's own libraries, such as PipeStream.ReadAsync,
/// are compiled so). The probe tests fail loudly when .NET 11 holds these internals elsewhere, and skip on .NET 10,
/// which has none; the report tests run on both and say what each runtime shows.
/// </summary>
public class RuntimeAsyncTaskTests
{
    private const int TestTimeout = 30_000;

    private static bool RuntimeAsyncRuntime => Environment.Version.Major >= 11;

    [Fact]
    public void This_runtime_has_the_runtime_async_internals_the_inspector_reads()
    {
        Assert.SkipUnless(RuntimeAsyncRuntime, $".NET {Environment.Version} has no runtime-async tasks");

        Assert.True(RuntimeAsyncTasks.RuntimeHasThem, "AsyncHelpers.RuntimeAsyncTask<T> is not in this runtime's CoreLib");
        Assert.Null(RuntimeAsyncTasks.MissingInternals);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_pending_pipe_read_is_a_runtime_async_task_whose_awaited_source_is_read()
    {
        Assert.SkipUnless(RuntimeAsyncRuntime, $".NET {Environment.Version} has no runtime-async tasks");
        using var pipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var writer = new AnonymousPipeClientStream(PipeDirection.Out, pipe.ClientSafePipeHandle);
        var read = pipe.ReadAsync(new byte[1], TestContext.Current.CancellationToken).AsTask();

        Assert.True(RuntimeAsyncTasks.Is(read), $"a pending PipeStream.ReadAsync is a {read.GetType()}");
        // The read suspends before ReadAsync returns: its continuation is registered with the socket by then.
        Assert.NotNull(RuntimeAsyncTasks.Awaited(read));

        writer.WriteByte(1);
        Assert.Equal(1, await read);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pipe_read_left_pending_is_reported_once_and_never_as_a_queued_delegate()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var writer = new AnonymousPipeClientStream(PipeDirection.Out, pipe.ClientSafePipeHandle);
        Task? reading = null;
        var report = await Scopes.CheckAsync("pipe read awaited", async () =>
        {
            reading = ReadOneByteAsync(pipe);
        });

        writer.WriteByte(1);
        await reading!.WaitAsync(TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper!.WriteLine(report.ToString());
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.AsyncMethod, leak.Kind);
        Assert.DoesNotContain("queued", report.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("DispatchContinuations", report.ToString(), StringComparison.Ordinal);
        if (RuntimeAsyncRuntime)
        {
            // The runtime-async read has no name to give: the user's method that awaits it is the entry.
            Assert.Equal("RuntimeAsyncTaskTests.ReadOneByteAsync", leak.Method);
            Assert.Equal(SourceLine.Of("pipe-read"), leak.AwaitSite!.Line);
            Assert.StartsWith("a .NET runtime-async method", leak.WaitingOn);
            Assert.Contains("AwaitableSocketAsyncEventArgs", leak.WaitingOn);
            Assert.Empty(leak.AwaitedBy);
        }
        else
        {
            // .NET 10 compiles PipeStream's read as a state machine: it is the innermost method, the user's awaits it.
            Assert.Equal("PipeStream.ReadAsyncCore", leak.Method);
            Assert.Equal("RuntimeAsyncTaskTests.ReadOneByteAsync", Assert.Single(leak.AwaitedBy).Method);
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Runtime_async_read_that_nothing_awaits_is_reported_as_itself()
    {
        Assert.SkipUnless(RuntimeAsyncRuntime, $".NET {Environment.Version} has no runtime-async tasks");
        using var pipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var writer = new AnonymousPipeClientStream(PipeDirection.Out, pipe.ClientSafePipeHandle);
        Task<int>? reading = null;
        var report = await Scopes.CheckAsync("pipe read not awaited", async () =>
        {
            reading = pipe.ReadAsync(new byte[1]).AsTask();
        });

        writer.WriteByte(1);
        await reading!.WaitAsync(TestContext.Current.CancellationToken);
        var leak = Scopes.Single(report);
        Assert.Equal(LeakKind.AsyncMethod, leak.Kind);
        Assert.Equal("a .NET runtime-async method", leak.Method);
        Assert.Contains("AwaitableSocketAsyncEventArgs", leak.WaitingOn);
        Assert.DoesNotContain("queued", report.ToString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Pipe_read_that_completes_in_the_grace_period_is_not_reported()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.In);
        using var writer = new AnonymousPipeClientStream(PipeDirection.Out, pipe.ClientSafePipeHandle);
        var report = await Scopes.CheckAsync(nameof(Pipe_read_that_completes_in_the_grace_period_is_not_reported), async () =>
        {
            _ = ReadOneByteAsync(pipe);
            writer.WriteByte(1);
        }, Scopes.Options(TimeSpan.FromSeconds(5)));

        Scopes.Clean(report);
    }

    private static async Task<int> ReadOneByteAsync(PipeStream pipe)
    {
        return await pipe.ReadAsync(new byte[1]); // @pipe-read
    }
}
