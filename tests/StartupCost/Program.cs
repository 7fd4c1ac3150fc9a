using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Runtime;
using NoLeaks;

// What NoLeaks costs a test process once: the first check (JIT-compiling the engine, switching tracking on), 99 more
// clean checks, then one that finds a leak (the report's code). Built and run by build/startup-cost.sh against the
// packed package, with NoLeaks.dll as IL and as ReadyToRun. COUNT_JIT=1 also counts the JIT-compiled methods of
// NoLeaks' own types (a runtime event listener, which slows the run down: counts only).
using var counter = Environment.GetEnvironmentVariable("COUNT_JIT") == "1" ? new NoLeaksJitCounter() : null;
var clock = Stopwatch.StartNew();
var methods = JitInfo.GetCompiledMethodCount();
var jitTime = JitInfo.GetCompilationTime();

await CleanTestAsync("first");
var first = clock.Elapsed;
for (var i = 0; i < 99; i++)
{
    await CleanTestAsync("test " + i);
}
var hundred = clock.Elapsed;

var scope = LeakScope.Begin("leaking", new NoLeaksOptions { GracePeriod = TimeSpan.FromMilliseconds(20) });
_ = WaitForeverAsync();
var report = await scope.EndAsync();
if (report.Leaks.Count != 1)
{
    throw new InvalidOperationException("expected one leak:\n" + report);
}
var leak = clock.Elapsed;

Console.WriteLine(FormattableString.Invariant(
    $"first-ms={first.TotalMilliseconds:F1} hundred-ms={hundred.TotalMilliseconds:F1} with-leak-ms={leak.TotalMilliseconds:F1} jit-methods={JitInfo.GetCompiledMethodCount() - methods} jit-ms={(JitInfo.GetCompilationTime() - jitTime).TotalMilliseconds:F1}{(counter is null ? "" : $" noleaks-jit-methods={counter.Count}")}"));

static async Task CleanTestAsync(string name)
{
    var scope = LeakScope.Begin(name);
    await Task.Yield();
    await Task.Run(() => { });
    (await scope.EndAsync()).ThrowIfFailed();
}

static async Task WaitForeverAsync() => await new TaskCompletionSource().Task;

// MethodJittingStarted (runtime provider, keyword JIT 0x10): payload 4 is the method's type name.
internal sealed class NoLeaksJitCounter : EventListener
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x10);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName == "MethodJittingStarted_V1" && e.Payload?[4] is string type && type.StartsWith("NoLeaks", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _count);
        }
    }
}
