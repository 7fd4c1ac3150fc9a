using System.Text.Json;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Stacks;

/// <summary>
/// <c>dotnet exec --runtimeconfig &lt;file&gt; NoLeaks.Stacks.dll &lt;pid&gt; [&lt;DAC path&gt;]</c>: waits for one line on its
/// standard input (the parent's go-ahead, given once it has allowed this process to trace it), attaches to the process,
/// reads every managed thread's stack and writes them as one JSON object on its standard output, after detaching.
/// </summary>
internal static class Program
{
    /// <summary>How long the process may stay attached: the test process is stopped while it is.</summary>
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
    /// The tracee is stopped while this process is attached to it; if the read never ends, exiting detaches it (the kernel
    /// resumes the threads of a process whose tracer died). Started just before attaching: this process's own start (its
    /// code compiled on a loaded machine) does not stop the tracee and does not count.
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
            attached = DataTarget.AttachToProcess(pid, suspend: true);
        }
        catch (Exception e)
        {
            // Said in the words the parent's report and the tests look for: the machine does not let a process trace
            // its parent (a container without ptrace, Yama without PR_SET_PTRACER, another user).
            throw new UnauthorizedAccessException($"{AttachRefused}: {e.Message}", e);
        }

        using (var target = attached)
        {
            if (target.ClrVersions.Length == 0)
            {
                throw new InvalidOperationException("no CLR found in the process");
            }

            using var runtime = dacPath is not null && File.Exists(dacPath)
                ? target.ClrVersions[0].CreateRuntime(dacPath, ignoreMismatch: true)
                : target.ClrVersions[0].CreateRuntime();
            using var json = new Utf8JsonWriter(output);
            ThreadStackWriter.Write(json, runtime);
        }

        return output.ToArray();
    }
}
