using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace NoLeaks.Analysis;

/// <summary>One frame of a thread's managed stack, as the stack reader saw it.</summary>
/// <param name="ModulePath">The file of the method's module; null for a module loaded from memory.</param>
/// <param name="Token">The method's metadata token.</param>
/// <param name="ILOffset">The IL offset executing (the call, for a frame below the innermost); negative when unknown.</param>
/// <param name="Name">The method as the runtime names it, with its parameter types.</param>
internal sealed record StackFrameInfo(string? ModulePath, int Token, int ILOffset, string Name);

/// <summary>A managed thread's stack, innermost frame first, and the tasks it is executing.</summary>
/// <param name="ManagedId">The thread's managed id.</param>
/// <param name="OSId">The operating system's id of the thread.</param>
/// <param name="Preemptive">True when the thread was outside managed code (waiting, sleeping, in a native call).</param>
/// <param name="TaskIds">The ids of the tasks the thread is executing (<c>Task.ExecuteWithThreadLocal</c> frames).</param>
/// <param name="Frames">The managed frames, innermost first.</param>
internal sealed record ThreadStack(int ManagedId, uint OSId, bool Preemptive, IReadOnlyList<int> TaskIds, IReadOnlyList<StackFrameInfo> Frames)
{
    /// <summary>The heap addresses of the tasks the thread is executing (with or without an id).</summary>
    public IReadOnlyList<ulong> TaskAddresses { get; init; } = [];
}

/// <summary>
/// Reads the managed stacks of this process's threads from outside it: a child process (NoLeaks.Stacks.dll, shipped
/// beside NoLeaks.dll) attaches with ptrace, reads them with ClrMD and detaches. Walking other threads' stacks from
/// inside the process is not safe (ClrMD's DAC faulted there while other threads ran), hence the child. The child stops
/// this process's threads for tens of milliseconds at a time (all of them while the runtime's records are read, then
/// the threads whose stacks it reads; docs/thread-stacks.md); it exits (which lets go the threads it holds) after 8 s
/// of reading at most, and is killed after <see cref="Timeout"/>. Only a child that crashed or named no frame is started
/// again (those end fast); one that timed out ends the read, so two reads stay inside the engine's watchdog margin (30 s).
/// Linux only; never throws.
/// </summary>
internal static class ThreadStacks
{
    /// <summary>How long the whole read may take, the child's start included, before the child is killed.</summary>
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(12);

    /// <summary>NoLeaks.Stacks' exit code for a read that failed with an exception other than a refusal.</summary>
    internal const int ChildReadFailedExitCode = 4;

    /// <summary>The child's file name, beside NoLeaks.dll.</summary>
    internal const string ChildFileName = "NoLeaks.Stacks.dll";

    // One child at a time: a process can have only one tracer.
    private static readonly object Gate = new();

    /// <summary>The stacks of every managed thread, or null with the reason in <paramref name="failure"/>.</summary>
    /// <param name="childPath">The child to start (tests point it elsewhere); null for the one beside NoLeaks.dll.</param>
    /// <param name="failure">Why no stacks were read, or null.</param>
    public static IReadOnlyList<ThreadStack>? Read(string? childPath, out string? failure)
    {
        try
        {
            lock (Gate)
            {
                // A read in which no thread has a single named frame is spoiled (on .NET 8, in about one read in three
                // in a test process, ClrMD names none of the frames of some threads, and the next read names them), and
                // so is one whose child died of a signal (on .NET 8 and 9 the runtime's data access library faults, now
                // and then, reading an assembly's name) or failed with an exception other than a refusal (a GC of this
                // process that tore what it read): read again, twice at most.
                IReadOnlyList<ThreadStack>? stacks = null;
                failure = null;
                var frameless = false;
                for (var read = 0; read < 3; read++)
                {
                    stacks = ReadLocked(childPath ?? DefaultChild, out failure, out var crashed);
                    frameless = stacks is not null && !stacks.Any(thread => thread.Frames.Count > 0);
                    if (!crashed && !frameless)
                    {
                        return stacks;
                    }
                }

                if (frameless && stacks!.Count == 0)
                {
                    // Only threads that execute a task are read: there may be none left to read.
                    return stacks;
                }

                if (frameless)
                {
                    failure = "the stack reader named no frame of any thread, three times";
                    return null;
                }

                failure += ", three times";
                return null;
            }
        }
        catch (Exception e)
        {
            failure = $"{e.GetType().Name}: {e.Message}";
            return null;
        }
    }

    private static string DefaultChild =>
        Path.Combine(Path.GetDirectoryName(typeof(ThreadStacks).Assembly.Location) is { Length: > 0 } folder ? folder : AppContext.BaseDirectory, ChildFileName);

    private static IReadOnlyList<ThreadStack>? ReadLocked(string childPath, out string? failure, out bool crashed)
    {
        var output = RunLocked(childPath, [], Timeout, out failure, out crashed);
        return failure is null ? Parse(output!) : null;
    }

    /// <summary>
    /// Runs the child with <paramref name="arguments"/> after the process id and the DAC's path (another of its modes,
    /// such as <c>--statics</c>), one child at a time, and returns all it wrote on its standard output — when it was
    /// killed after <paramref name="timeout"/> or failed too (then <paramref name="failure"/> says why): a mode that
    /// writes as it goes keeps what it wrote. Null when it did not run. Never throws.
    /// </summary>
    internal static string? RunChild(string? childPath, IReadOnlyList<string> arguments, TimeSpan timeout, out string? failure)
    {
        try
        {
            lock (Gate)
            {
                return RunLocked(childPath ?? DefaultChild, arguments, timeout, out failure, out _);
            }
        }
        catch (Exception e)
        {
            failure = $"{e.GetType().Name}: {e.Message}";
            return null;
        }
    }

    private static string? RunLocked(string childPath, IReadOnlyList<string> arguments, TimeSpan timeout, out string? failure, out bool crashed)
    {
        crashed = false;
        if (!OperatingSystem.IsLinux())
        {
            failure = "reading another process's runtime is supported on Linux only";
            return null;
        }

        if (!File.Exists(childPath))
        {
            failure = $"{childPath} was not found";
            return null;
        }

        var runtimeDirectory = RuntimeEnvironment.GetRuntimeDirectory();
        if (DotnetHost(runtimeDirectory) is not { } host)
        {
            failure = "the dotnet host of this runtime was not found (a self-contained test process?)";
            return null;
        }

        var runtimeConfig = Path.Combine(Path.GetTempPath(), $"noleaks-stacks-{Environment.ProcessId}-{Guid.NewGuid():N}.runtimeconfig.json");
        File.WriteAllText(runtimeConfig, RuntimeConfig());
        try
        {
            return Run(host, runtimeConfig, childPath, Path.Combine(runtimeDirectory, "libmscordaccore.so"), arguments, timeout, out failure, out crashed);
        }
        finally
        {
            File.Delete(runtimeConfig);
        }
    }

    private static string? Run(
        string host, string runtimeConfig, string childPath, string dacPath, IReadOnlyList<string> arguments, TimeSpan timeout, out string? failure, out bool crashed)
    {
        crashed = false;
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["exec", "--runtimeconfig", runtimeConfig, childPath, Environment.ProcessId.ToString(CultureInfo.InvariantCulture), dacPath, .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        // The child is no test process: no profiler or startup hook of the test run's is loaded into it.
        foreach (var variable in (string[])["DOTNET_STARTUP_HOOKS", "CORECLR_ENABLE_PROFILING", "DOTNET_ENABLE_PROFILING", "COR_ENABLE_PROFILING"])
        {
            start.Environment.Remove(variable);
        }

        start.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(host);
        using var child = Process.Start(start) ?? throw new InvalidOperationException("the stack reader did not start");
        try
        {
            // Where Yama's ptrace_scope is 1 a process may only be traced by its ancestors or the one it names.
            AllowTracer(child.Id);
            var output = child.StandardOutput.ReadToEndAsync();
            var errors = child.StandardError.ReadToEndAsync();
            child.StandardInput.WriteLine("go");
            child.StandardInput.Close();
            if (!child.WaitForExit(timeout))
            {
                child.Kill(entireProcessTree: true);
                child.WaitForExit();
                failure = $"the stack reader did not end within {timeout.TotalSeconds:0.#} s";
                return output.Result;
            }

            child.WaitForExit();
            if (child.ExitCode != 0)
            {
                // Killed by a signal (128 + its number: SIGSEGV 139, SIGABRT 134), or a read that failed with an
                // exception other than a refusal (NoLeaks.Stacks' exit code 4): worth another read.
                crashed = child.ExitCode > 128 || child.ExitCode == ChildReadFailedExitCode;
                var error = errors.Result.Trim();
                failure = $"the stack reader failed (exit code {child.ExitCode}){(error.Length > 0 ? ": " + FirstLine(error) : "")}";
                return output.Result;
            }

            failure = null;
            return output.Result;
        }
        finally
        {
            AllowTracer(0);
        }
    }

    /// <summary>The threads of the child's JSON output (NoLeaks.Stacks' <c>ThreadStackWriter</c>).</summary>
    internal static List<ThreadStack> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var threads = new List<ThreadStack>();
        foreach (var thread in document.RootElement.GetProperty("threads").EnumerateArray())
        {
            var frames = new List<StackFrameInfo>();
            foreach (var frame in thread.GetProperty("frames").EnumerateArray())
            {
                if (frame.TryGetProperty("token", out var token))
                {
                    frames.Add(new StackFrameInfo(
                        frame.GetProperty("module").GetString(), token.GetInt32(), frame.GetProperty("il").GetInt32(),
                        frame.GetProperty("method").GetString() ?? "?"));
                }
            }

            threads.Add(new ThreadStack(
                thread.GetProperty("managedId").GetInt32(),
                thread.GetProperty("osId").GetUInt32(),
                thread.GetProperty("preemptive").GetBoolean(),
                [.. thread.GetProperty("taskIds").EnumerateArray().Select(id => id.GetInt32())],
                frames)
            {
                TaskAddresses = thread.TryGetProperty("taskAddresses", out var addresses) ? [.. addresses.EnumerateArray().Select(a => a.GetUInt64())] : [],
            });
        }

        return threads;
    }

    /// <summary>The dotnet host of the runtime this process runs on: <c>&lt;root&gt;/dotnet</c> above <c>shared/Microsoft.NETCore.App/&lt;version&gt;/</c>.</summary>
    private static string? DotnetHost(string runtimeDirectory)
    {
        var root = Path.GetFullPath(Path.Combine(runtimeDirectory, "..", "..", ".."));
        var host = Path.Combine(root, "dotnet");
        if (File.Exists(host))
        {
            return host;
        }

        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } fromSdk && File.Exists(fromSdk) ? fromSdk : null;
    }

    /// <summary>A runtime config for exactly this process's runtime: the child runs where the test runs.</summary>
    private static string RuntimeConfig()
    {
        var version = Environment.Version;
        return $$"""
            { "runtimeOptions": { "tfm": "net{{version.Major}}.{{version.Minor}}", "framework": { "name": "Microsoft.NETCore.App", "version": "{{version}}" } } }
            """;
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    private const int PR_SET_PTRACER = 0x59616d61;

    /// <summary>Names the process that may trace this one (0: none but ancestors). Without Yama the call does nothing.</summary>
    private static void AllowTracer(int pid)
    {
        try
        {
            _ = prctl(PR_SET_PTRACER, (nuint)pid, 0, 0, 0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // A C library without prctl under that name: the attach says whether tracing is allowed.
        }
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SA1300, IDE1006 // the C function's name
    private static extern int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
#pragma warning restore SA1300, IDE1006
}
