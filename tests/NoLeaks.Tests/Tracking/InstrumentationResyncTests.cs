using System.Reflection;
using NoLeaks.Tracking;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// .NET 11 caches whether async methods are recorded: its flags are computed from <c>Task.s_asyncDebuggingEnabled</c>
/// by the first async method that needs them, and again only when asked. A test process has run async code long
/// before NoLeaks switches tracking on, so switching it on must ask. On .NET 10 and older there is no cache and the
/// same assertions hold. These tests switch the runtime's tracking off for a moment, so nothing runs beside them.
/// </summary>
[Collection(nameof(InstrumentationResyncTests))]
[CollectionDefinition(nameof(InstrumentationResyncTests), DisableParallelization = true)]
public class InstrumentationResyncTests
{
    private static readonly FieldInfo Enabled =
        typeof(Task).GetField("s_asyncDebuggingEnabled", BindingFlags.Static | BindingFlags.NonPublic)!;

    [Fact(Timeout = 10_000)]
    public async Task Async_methods_are_recorded_when_tracking_is_switched_on_after_the_runtime_cached_it_off()
    {
        var tracking = RuntimeTaskTracking.Probe();
        Assert.True(tracking.IsAvailable, tracking.UnavailableReason);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task before;
        try
        {
            // The state of a process before NoLeaks starts: tracking off, and (on .NET 11) an async method has run
            // since the runtime last read the flag.
            Enabled.SetValue(null, false);
            Assert.Null(RuntimeTaskTracking.RequestInstrumentationResync());
            await AwaitAsync(Task.CompletedTask);
            before = AwaitAsync(gate.Task);
        }
        finally
        {
            Assert.True(tracking.Enable());
        }

        var after = AwaitAsync(gate.Task);
        var recorded = tracking.Find(after.Id);
        gate.SetResult();
        await Task.WhenAll(before, after);

        Assert.Null(tracking.InstrumentationResyncFailure);
        Assert.Same(after, recorded);
    }

    [Fact]
    public void This_runtime_can_be_asked_to_read_its_tracking_flag_again()
    {
        // Null on .NET 10 (nothing cached) and on .NET 11 (asked): a reason here means the runtime's cache changed shape.
        Assert.Null(RuntimeTaskTracking.RequestInstrumentationResync());
    }

    [Fact]
    public void A_cache_of_another_shape_is_named_not_thrown()
    {
        // A type of the runtime's that has neither field plays a runtime whose cache changed.
        var reason = RuntimeTaskTracking.RequestInstrumentationResync("System.Threading.Tasks.TaskScheduler");

        Assert.Contains("no writable flags field s_activeFlags", reason);
    }

    private static async Task AwaitAsync(Task task) => await task;
}
