using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace NoLeaks.TestTargets.AsyncStacks;

/// <summary>
/// Starts known pending work, prints "ready &lt;pid&gt;" and obeys its standard input: "more" starts 100 more channel readers,
/// end of input exits. The tests find the await lines by the "await:" comments below. Every object stays reachable
/// from <see cref="Kept"/>, so a GC in the target changes nothing the tests count.
/// </summary>
public static class Program
{
    private static readonly List<object> Kept = [];
    private static readonly Channel<int> Silent = Channel.CreateUnbounded<int>();
    private static readonly ManualResetEventSlim Gate = new();

    /// <param name="args">None for the tests' work; <c>why</c> for that work and one orphan (<see cref="Orphans"/>);
    /// <c>load &lt;objects&gt; &lt;readers&gt;</c> for the speed measurement of the README: that many small live objects, and
    /// that many channel readers instead of 10.</param>
    public static int Main(string[] args)
    {
        AllowAnyTracer();
        if (args is ["load", var objects, var readers])
        {
            var live = new object[int.Parse(objects)];
            for (var i = 0; i < live.Length; i++)
            {
                live[i] = new object();
            }

            Kept.Add(live);
            StartReaders(int.Parse(readers));
        }
        else
        {
            StartReaders(10);
        }

        if (args is ["why"])
        {
            // The orphan is garbage from the start: no GC may collect it before the tests read it. The region is opened
            // first (opening it may collect), and holds far more than this idle process allocates afterwards.
            _ = GC.TryStartNoGCRegion(64L << 20);
            Orphans.Start();
        }

        for (var i = 0; i < 3; i++)
        {
            var source = new TaskCompletionSource<int>();
            Kept.Add(source);
            Kept.Add(Waiters.OuterAsync(source.Task));
        }

        // One thread blocked inside a delegate task: a running delegate, not an await. Ready once it runs.
        using var running = new ManualResetEventSlim();
        Kept.Add(Task.Factory.StartNew(() => { running.Set(); Gate.Wait(); }, TaskCreationOptions.LongRunning)); // await: blocked
        running.Wait();
        Console.WriteLine($"ready {Environment.ProcessId}");
        while (Console.ReadLine() is { } line)
        {
            if (line == "more")
            {
                StartReaders(100);
            }

            Console.WriteLine($"ready {Environment.ProcessId}");
        }

        Gate.Set();
        return 0;
    }

    private static void StartReaders(int count)
    {
        for (var i = 0; i < count; i++)
        {
            Kept.Add(Readers.ReadLoopAsync(Silent.Reader));
        }
    }

    // Yama (kernel.yama.ptrace_scope = 1) lets only a process's ancestors trace it: the tests' noleaks runs beside it.
    private static void AllowAnyTracer()
    {
        if (OperatingSystem.IsLinux())
        {
            _ = prctl(0x59616d61 /* PR_SET_PTRACER */, new IntPtr(-1) /* PR_SET_PTRACER_ANY */, 0, 0, 0);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int prctl(int option, IntPtr arg2, long arg3, long arg4, long arg5);
}

public static class Readers
{
    public static async Task ReadLoopAsync(ChannelReader<int> reader)
    {
        while (true)
        {
            _ = await reader.ReadAsync(); // await: reader
        }
    }
}

public static class Waiters
{
    public static async Task<int> OuterAsync(Task<int> task)
    {
        return await MiddleAsync(task) + 1; // await: outer
    }

    private static async Task<int> MiddleAsync(Task<int> task)
    {
        return await InnerAsync(task) + 1; // await: middle
    }

    private static async Task<int> InnerAsync(Task<int> task)
    {
        return await task + 1; // await: inner
    }
}

public static class Orphans
{
    /// <summary>Starts a method awaiting a TaskCompletionSource that only its own state machine references.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Start() => _ = WaitForeverAsync();

    private static async Task WaitForeverAsync()
    {
        var source = new TaskCompletionSource<int>();
        await source.Task; // await: orphan
    }
}
