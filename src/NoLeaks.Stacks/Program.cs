using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Stacks;

/// <summary>
/// <c>dotnet exec --runtimeconfig &lt;file&gt; NoLeaks.Stacks.dll &lt;pid&gt; [&lt;DAC path&gt;]</c>: waits for one line on its
/// standard input (the parent's go-ahead, given once it has allowed this process to trace it), reads the stack of every managed
/// thread that executes a task, stopping the threads for milliseconds at a time while
/// the others run on (<see cref="ThreadStackWriter"/>), and writes them as one JSON object on its standard output.
/// With <c>--statics &lt;bound in ms&gt; all|only [&lt;module file name&gt; …]</c> after the DAC path it writes where the
/// process's static reference fields live instead (<see cref="StaticSlotWriter"/>), the named modules first (<c>only</c>:
/// only those), stopping no thread.
/// </summary>
internal static class Program
{
    /// <summary>How long the read may take: a thread of the test process is stopped while its stack is read.</summary>
    private static readonly TimeSpan AttachedLimit = TimeSpan.FromSeconds(8);

    private static int Main(string[] args)
    {
        if (args.Length < 1 || !int.TryParse(args[0], out var pid))
        {
            Console.Error.WriteLine("usage: NoLeaks.Stacks <pid> [<DAC path> [--statics <bound in ms> all|only [<module file name> ...]]]");
            return 2;
        }

        var dacPath = args.Length > 1 ? args[1] : null;
        if (Console.In.ReadLine() is null)
        {
            return 2;
        }

        if (args.Length > 4 && args[2] == "--statics" && int.TryParse(args[3], out var boundMs))
        {
            return Statics(pid, dacPath, TimeSpan.FromMilliseconds(boundMs), onlyFirst: args[4] == "only", args[5..].ToHashSet(StringComparer.OrdinalIgnoreCase));
        }

        byte[] json;
        try
        {
            json = Read(pid, dacPath, StartWatchdog);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{e.GetType().Name}: {e.Message}");

            // A refusal is the machine's answer; anything else may be a read spoiled by the running process, worth another.
            return e is UnauthorizedAccessException ? 1 : ReadFailedExitCode;
        }

        // Written only now, after detaching: a stopped parent does not read its end of the pipe.
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(json);
        return 0;
    }

    /// <summary>The exit code of a read that failed with an exception other than a refusal (ThreadStacks reads again).</summary>
    internal const int ReadFailedExitCode = 4;

    /// <summary>The start of the error line when the process cannot be attached to.</summary>
    private const string AttachRefused = "attaching to the test process was refused";

    /// <summary>
    /// A thread of the test process is stopped while its stack is read; if the read never ends, exiting detaches it (the
    /// kernel resumes the threads of a process whose tracer died). Started just before attaching: this process's own start
    /// (its code compiled on a loaded machine) does not count.
    /// </summary>
    private static void StartWatchdog()
    {
        var watchdog = new Thread(() =>
        {
            Thread.Sleep(AttachedLimit);
            Console.Error.WriteLine($"the read did not end within {AttachedLimit.TotalSeconds:0} s");
            Environment.Exit(3);
        })
        {
            IsBackground = true,
        };
        watchdog.Start();
    }

    /// <summary>Writes the static slots line by line as they are read; the parent kills this process if it takes too long.</summary>
    private static int Statics(int pid, string? dacPath, TimeSpan bound, bool onlyFirst, IReadOnlySet<string> first)
    {
        try
        {
            StartWatchdog();
            using var target = Attach(pid);
            var clr = target.ClrVersions.FirstOrDefault() ?? throw new InvalidOperationException("no CLR found in the process");
            using var runtime = dacPath is not null && File.Exists(dacPath) ? clr.CreateRuntime(dacPath, ignoreMismatch: true) : clr.CreateRuntime();
            StaticSlotWriter.Write(Console.Out, runtime, first, onlyFirst, bound);
            Console.Out.Flush();
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    private static DataTarget Attach(int pid)
    {
        // Not suspended: threads are stopped for milliseconds at a time (ThreadStackWriter, ThreadStop), or not at all.
        // ClrMD asks its file locator for a module's image when reading the image's memory fails (the process runs on):
        // the default one is a symbol-server client built on Azure.Core, which is not shipped.
#if CLRMD3
        var attached = DataTarget.AttachToProcess(pid, suspend: false);
        attached.FileLocator = NoLeaks.Heap.NoFileLocator.Instance;
        return attached;
#else
        return DataTarget.AttachToProcess(pid, suspend: false, new DataTargetOptions { FileLocator = NoLeaks.Heap.NoFileLocator.Instance });
#endif
    }

    private static byte[] Read(int pid, string? dacPath, Action attaching)
    {
        var output = new MemoryStream();
        DataTarget attached;
        try
        {
            attaching();
            attached = Attach(pid);
        }
        catch (Exception e)
        {
            // Said in the words the parent's report and the tests look for: the machine does not let a process trace
            // its parent (a container without ptrace, Yama without PR_SET_PTRACER, another user).
            throw new UnauthorizedAccessException($"{AttachRefused}: {e.Message}", e);
        }

        using (var target = attached)
        {
            ClrInfo[] versions;
            try
            {
                versions = target.ClrVersions.ToArray();
            }
            catch (UnauthorizedAccessException e)
            {
                // Not attached yet, so refused only now, when the process's memory is first read (process_vm_readv: EPERM).
                throw new UnauthorizedAccessException($"{AttachRefused}: {e.Message}", e);
            }

            if (versions.Length == 0)
            {
                throw new InvalidOperationException("no CLR found in the process");
            }

            var clr = versions[0];
            ClrRuntime Open() => dacPath is not null && File.Exists(dacPath) ? clr.CreateRuntime(dacPath, ignoreMismatch: true) : clr.CreateRuntime();
            using var json = new Utf8JsonWriter(output);
            var stops = new Stops(pid);
            ThreadStackWriter.WriteHoldingExecuting(json, Open, stops);

            if (stops.Stopped == 0 && stops.Refused > 0)
            {
                throw new UnauthorizedAccessException($"{AttachRefused}: ptrace refused to stop its threads (EPERM)");
            }
        }

        return output.ToArray();
    }

    /// <summary>The test process's threads, stopped by ptrace (ThreadStop, ProcessStop); counts the stops and refusals.</summary>
    private sealed class Stops(int pid) : IThreadStops
    {
        public int Stopped;
        public int Refused;

        public IStoppedProcess StopAll() => ProcessStop.Of(pid, ref Stopped, ref Refused);
    }
}
