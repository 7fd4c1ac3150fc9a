using NoLeaks;
using NoLeaks.NUnit;
using NUnit.Framework;

[assembly: NoTaskLeaks]

namespace Compatibility;

// A consumer of the packed NoLeaks.NUnit package: build/compat.sh expects Leaks to fail with the report and the
// other tests to pass.
public class LeakTests
{
    private static readonly TaskCompletionSource Never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [Test, CancelAfter(120_000)]
    public void Leaks() => _ = WaitForeverAsync();

    [Test, CancelAfter(120_000)]
    public async Task Awaits_its_work()
    {
        // The runtime a consumer of build/compat.sh is meant to run on (…-on-net11: .NET 11, by roll-forward).
        if (Environment.GetEnvironmentVariable("NOLEAKS_COMPAT_RUNTIME_MAJOR") is { } major)
        {
            Assert.That(Environment.Version.Major, Is.EqualTo(int.Parse(major, System.Globalization.CultureInfo.InvariantCulture)));
        }

        await Task.Run(() => Task.Delay(10));
    }

    [Test, CancelAfter(120_000), AllowTaskLeaks("checks a leak of its own")]
    public async Task Heap_source_finds_what_keeps_a_leak_alive()
    {
        var report = await HeapCheck.RunAsync();
        Assert.That(report.Warnings, Is.Empty, report.ToString());
        Assert.That(report.Leaks.Single().RetentionPath, Is.Not.Null, report.ToString());
    }

    [Test, CancelAfter(120_000), AllowTaskLeaks("checks a leak of its own")]
    public async Task Blocked_delegate_names_its_blocking_call()
    {
        var report = await StackCheck.RunAsync();
        Assert.That(StackCheck.Problem(report), Is.Null);
    }

    private static async Task WaitForeverAsync() => await Never.Task;
}
