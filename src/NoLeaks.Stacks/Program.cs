using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Stacks;

/// <summary>
/// <c>dotnet exec --runtimeconfig &lt;file&gt; NoLeaks.Stacks.dll &lt;pid&gt; [&lt;DAC path&gt;]</c>: waits for one line on its
/// standard input (the parent's go-ahead, given once it has allowed this process to trace it), reads every managed
/// thread's stack, stopping one thread at a time while its stack is read (the others run on), and writes them as one
/// JSON object on its standard output.
/// </summary>
internal static class Program
{
    /// <summary>How long the read may take: a thread of the test process is stopped while its stack is read.</summary>
    private static readonly TimeSpan AttachedLimit = TimeSpan.FromSeconds(8);

    private static int Main(string[] args)
    {
        if (args.Length < 1 || !int.TryParse(args[0], out var pid))
        {
            Console.Error.WriteLine("usage: NoLeaks.Stacks <pid> [<DAC path>]");
            return 2;
        }

        var dacPath = args.Length > 1 ? args[1] : null;
        if (Console.In.ReadLine() is null)
        {
            return 2;
        }

        byte[] json;
        try
        {
            json = Read(pid, dacPath, StartWatchdog);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{e.GetType().Name}: {e.Message}");
            return 1;
        }

        // Written only now, after detaching: a stopped parent does not read its end of the pipe.
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(json);
        return 0;
    }

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
            Console.Error.WriteLine($"the stack read did not end within {AttachedLimit.TotalSeconds:0} s");
            Environment.Exit(3);
        })
        {
            IsBackground = true,
        };
        watchdog.Start();
    }

    private static byte[] Read(int pid, string? dacPath, Action attaching)
    {
        var output = new MemoryStream();
        DataTarget attached;
        try
        {
            attaching();
            // Not suspended: each thread is stopped alone while its stack is read (ThreadStop).
            attached = DataTarget.AttachToProcess(pid, suspend: false);
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

            using var runtime = dacPath is not null && File.Exists(dacPath)
                ? versions[0].CreateRuntime(dacPath, ignoreMismatch: true)
                : versions[0].CreateRuntime();
            using var json = new Utf8JsonWriter(output);
            var (stopped, refused) = (0, 0);
            ThreadStackWriter.Write(json, runtime, stopThread: tid =>
            {
                var stop = ThreadStop.Of(tid, out var wasRefused);
                stopped += stop is null ? 0 : 1;
                refused += wasRefused ? 1 : 0;
                return stop;
            });
            if (stopped == 0 && refused > 0)
            {
                throw new UnauthorizedAccessException($"{AttachRefused}: ptrace refused to stop its threads (EPERM)");
            }
        }

        return output.ToArray();
    }
}
