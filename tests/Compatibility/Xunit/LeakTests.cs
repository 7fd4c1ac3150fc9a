using NoLeaks;
using NoLeaks.Xunit;
using Xunit;

[assembly: NoTaskLeaks]

namespace Compatibility;

// A consumer of the packed NoLeaks.Xunit or NoLeaks.XunitV3 package: build/compat.sh expects Leaks to fail with the
// report and the other tests to pass (on xunit v3 3.x, all but DisposeTests, below).
public class LeakTests
{
    private static readonly TaskCompletionSource<int> Never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [Fact(Timeout = 120_000)]
    public async Task Leaks()
    {
        _ = WaitForeverAsync();
        await Task.Yield();
    }

    [Fact(Timeout = 120_000)]
    public async Task Awaits_its_work()
    {
        // The runtime a consumer of build/compat.sh is meant to run on (…-on-net11: .NET 11, by roll-forward).
        if (Environment.GetEnvironmentVariable("NOLEAKS_COMPAT_RUNTIME_MAJOR") is { } major)
        {
            Assert.Equal(int.Parse(major, System.Globalization.CultureInfo.InvariantCulture), Environment.Version.Major);
        }

        await Task.Run(() => Task.Delay(10));
    }

    [Fact(Timeout = 120_000), AllowTaskLeaks("checks a leak of its own")]
    public async Task Blocked_delegate_names_its_blocking_call()
    {
        var report = await StackCheck.RunAsync();
        Assert.True(StackCheck.Problem(report) is null, StackCheck.Problem(report));
    }

    private static async Task WaitForeverAsync() => await Never.Task;
}

#if !WITHOUT_HEAP_CHECK
// The retention search reads type metadata that other threads' type loading can make it loop in (docs/heap.md, Hang
// safety): as the docs advise, it runs in a collection of its own, never beside other tests.
[CollectionDefinition(nameof(HeapTests), DisableParallelization = true)]
[Collection(nameof(HeapTests))]
public class HeapTests
{
    [Fact(Timeout = 120_000), AllowTaskLeaks("checks a leak of its own")]
    public async Task Heap_source_finds_what_keeps_a_leak_alive()
    {
        var report = await HeapCheck.RunAsync();
        Assert.True(report.Warnings.Count == 0, report.ToString());
        Assert.True(report.Leaks.Single().RetentionPath is not null, report.ToString());
    }
}
#endif

// Checked after the test class is disposed (xunit v2 on NoLeaks' test framework, xunit v3 4.0 or later), the work that
// Dispose stops is no leak. xunit v3 3.x checks before disposal: there build/compat.sh expects this test to fail as well.
public sealed class DisposeTests : IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    [Fact(Timeout = 120_000)]
    public async Task Work_stopped_in_Dispose()
    {
        _ = RunUntilStoppedAsync(_stop.Token);
        await Task.Yield();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private static async Task RunUntilStoppedAsync(CancellationToken stop)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
