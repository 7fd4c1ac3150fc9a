using System.Diagnostics;
using Microsoft.Diagnostics.Runtime;
using NoLeaks.Analysis;
using NoLeaks.Heap;

namespace NoLeaks.Cli;

/// <summary>A failure the command reports as one line, with its exit code.</summary>
internal sealed class CommandException(int exitCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The documented exit codes.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>diff: at least one stack grew.</summary>
    public const int Grew = 1;

    public const int Usage = 2;

    /// <summary>No such process, or a process without a .NET runtime.</summary>
    public const int NotDotNet = 3;

    /// <summary>The operating system refused to let this user read the process (ptrace) or the file.</summary>
    public const int PermissionDenied = 4;

    /// <summary>A dump that is truncated, of another format, or whose heap cannot be read.</summary>
    public const int UnreadableDump = 5;

    /// <summary>A .NET runtime this tool cannot read (no DAC for it, or a task layout it does not know).</summary>
    public const int UnreadableRuntime = 6;

    /// <summary>Anything else: the message says what.</summary>
    public const int Failure = 7;
}

/// <summary>What one reading of a process or dump found.</summary>
/// <param name="Target">"process 1234 (Shop.Api)" or "dump core.1234".</param>
/// <param name="RuntimeVersion">The target's .NET runtime version.</param>
/// <param name="Stacks">The pending work grouped by logical async stack (one entry per operation with <c>--all</c>), most
/// frequent first.</param>
/// <param name="Operations">How many pending operations were read (promises and awaited work included).</param>
/// <param name="Objects">How many heap objects were walked.</param>
/// <param name="Unreadable">How many places of the heap the walk could not read as an object (skipped).</param>
/// <param name="Elapsed">How long the reading took, attach to analysis.</param>
/// <param name="Suspended">How long the live process was suspended; null for a dump.</param>
/// <param name="Each">True when every operation is an entry of its own (<c>--all</c>).</param>
internal sealed record StacksReading(
    string Target, string RuntimeVersion, IReadOnlyList<TaskLeak> Stacks, int Operations, long Objects, int Unreadable, TimeSpan Elapsed, TimeSpan? Suspended, bool Each)
{
    /// <summary>What could not be read without failing the reading (threads' stacks), one line each.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The retention search's budget when it ran (<c>--why</c>): each entry then has a path and a verdict.</summary>
    public TimeSpan? WhyBudget { get; init; }
}

/// <summary>
/// Reads the pending async work of another process (attached and suspended only while its heap is read) or of a dump,
/// with the core's heap reading and analysis: the chains, await lines and names of a NoLeaks test report.
/// </summary>
internal static class AsyncStacks
{
    /// <summary>The option that sets the retention search's budget, named where it ran out.</summary>
    public const string WhyBudgetOption = "--why-budget";

    /// <summary>Reads a pid (all digits, and no file of that name) or a dump file.</summary>
    /// <param name="target">The process id or dump file.</param>
    /// <param name="each">One entry per operation (<c>--all</c>).</param>
    /// <param name="progress">Where the progress of a long read is written (stderr).</param>
    /// <param name="whyBudget">Search each entry's retention path and verdict within this time in all (<c>--why</c>), the
    /// process staying suspended meanwhile; null: no search.</param>
    public static StacksReading Read(string target, bool each, TextWriter progress, TimeSpan? whyBudget = null)
    {
        // The runtime's data access library is loaded once per process and is not made for two targets read at once:
        // readings in one process (the tests run the command on several threads) are made one after the other.
        lock (OneReadingAtATime)
        {
            return ReadAlone(target, each, progress, whyBudget);
        }
    }

    private static readonly object OneReadingAtATime = new();

    private static StacksReading ReadAlone(string target, bool each, TextWriter progress, TimeSpan? whyBudget)
    {
        var watch = Stopwatch.StartNew();
        var isPid = int.TryParse(target, out var pid) && !File.Exists(target);
        var described = isPid ? DescribeProcess(pid) : $"dump {Path.GetFileName(target)}";
        using var indicator = Progress.Start(progress, described);
        if (isPid)
        {
            WarmUp(pid, described);
            Phase("warmed up");
        }

        var suspendWatch = new Stopwatch();
        List<PendingOperation> operations;
        List<TaskLeak>? searched = null;
        Func<RunningTask, string?>? doing = null;
        var warnings = new List<string>();
        string version;
        long objects;
        int unreadable;
        DataTarget dataTarget = isPid ? Attach(pid, described, suspendWatch) : LoadDump(target);
        try
        {
            ProcessHeap heap;
            try
            {
                if (dataTarget.ClrVersions.Length == 0)
                {
                    throw new CommandException(isPid ? ExitCodes.NotDotNet : ExitCodes.UnreadableDump,
                        isPid ? $"{described} is not a .NET process (no .NET runtime is loaded in it)" : $"{described} holds no .NET runtime");
                }

                version = VersionOf(dataTarget.ClrVersions[0]);
                Phase("attached");
                heap = ProcessHeap.Open(dataTarget);
                Phase("runtime opened");
            }
            catch (CommandException)
            {
                dataTarget.Dispose();
                throw;
            }
            catch (Exception e)
            {
                var runtime = dataTarget.ClrVersions.Length > 0 ? $".NET {VersionOf(dataTarget.ClrVersions[0])}" : "the .NET runtime";
                dataTarget.Dispose();
                throw new CommandException(ExitCodes.UnreadableRuntime, $"cannot read {runtime} of {described}: {e.Message}", e);
            }

            using (heap)
            {
                var (snapshot, read) = heap.Capture(forceGc: false, s => HeapReading.AllPendingOperations(heap, s, described));
                if (snapshot.Warnings.Count > 0 || read is null)
                {
                    var why = snapshot.Warnings.FirstOrDefault() ?? "the heap could not be read";
                    throw new CommandException(isPid ? ExitCodes.Failure : ExitCodes.UnreadableDump,
                        isPid ? $"{described}: {why}" : $"{described} is truncated or its heap cannot be read ({why})");
                }

                operations = read;
                Phase($"heap read (walk {snapshot.Elapsed.TotalMilliseconds:0} ms)");
                objects = snapshot.ObjectCount;
                unreadable = snapshot.TornObjects;
                var threads = operations.Exists(o => o.Activity == OperationActivity.Running) ? ReadThreads(heap, warnings) : null;
                Phase("threads read");
                if (whyBudget is { } budget)
                {
                    // Searched while the target is still open (suspended): the snapshot's addresses are its heap's.
                    searched = RetentionSearch.SearchTarget(heap, snapshot, Analyze(operations, each), budget, WhyBudgetOption);
                    Phase("retention searched");
                }

                // The process runs again from here; its threads' code is named from its files (PDBs, IL).
                heap.ReleaseTarget();
                suspendWatch.Stop();
                if (threads is not null)
                {
                    doing = RunningWork.DescribeNow(threads, heap.TargetModules());
                    Phase("threads named");
                }
            }
        }
        finally
        {
            // Disposing the heap detached from the process: it runs again from here.
            suspendWatch.Stop();
        }

        var stacks = searched ?? Analyze(operations, each);
        if (doing is not null)
        {
            stacks = RunningWork.Describe(stacks, doing);
        }

        var ordered = stacks.OrderByDescending(s => s.Count).ThenBy(s => s.StackKey, StringComparer.Ordinal).ToList();
        indicator.Succeeded();
        return new StacksReading(described, version, ordered, operations.Count, objects, unreadable, watch.Elapsed, isPid ? suspendWatch.Elapsed : null, each)
        {
            Warnings = warnings,
            WhyBudget = whyBudget,
        };
    }

    /// <summary>The core's analysis: chains, await lines and names, one entry per stack (or per operation).</summary>
    private static List<TaskLeak> Analyze(List<PendingOperation> operations, bool each) =>
        new LeakAnalyzer(AwaitSiteResolver.Shared).Analyze(operations, new HashSet<object>(), RunningHere.Nothing, Stopwatch.GetTimestamp(), group: !each);

    /// <summary>
    /// The target's threads, for what its running tasks are doing on them (the call a blocked delegate is in, and its
    /// line): read with ClrMD as the test reports' stack reader reads them, each with the task objects its runtime frames
    /// are executing, by which a thread is matched to a task. Null, with a warning, when the stacks cannot be read: the
    /// operations then keep their text.
    /// </summary>
    private static IReadOnlyList<ThreadStack>? ReadThreads(ProcessHeap heap, List<string> warnings)
    {
        try
        {
            return heap.ThreadStacksOfTarget();
        }
        catch (Exception e)
        {
            warnings.Add($"what running tasks are doing on their threads could not be read ({e.GetType().Name}: {e.Message})");
            return null;
        }
    }

    /// <summary>The runtime's version; its folder's name (…/Microsoft.NETCore.App/10.0.1/) where the module's reads 0.0.</summary>
    private static string VersionOf(ClrInfo clr) =>
        clr.Version.Major != 0 ? clr.Version.ToString() : Path.GetFileName(Path.GetDirectoryName(clr.ModuleInfo.FileName)) ?? "?";

    /// <summary>
    /// Reads the process once while it runs, walking at most <see cref="WarmUpWalk"/> of its heap, and drops what it read:
    /// the reading's code is compiled (generic instantiations too), and the runtime's debugging library and the framework
    /// assemblies that name the target's types are loaded, before the process is suspended, not while it is. What the
    /// warm-up reads may be torn (the process runs), and it is never used; a failure is left to the reading that follows.
    /// It replaced compiling every method of NoLeaks and ClrMD ahead: on a process with 1 M objects and 10,000 pending
    /// operations (interleaved runs on a loaded machine, load average 27), suspended 0.46–0.59 s instead of 0.86–0.90 s,
    /// and 2.1–2.6 s in all instead of 2.6–2.9 s. Its reading of the running process is not done for threads' stacks: a
    /// running thread's registers cannot be read, so the stack reading's code is compiled while the process is suspended.
    /// </summary>
    private static void WarmUp(int pid, string described)
    {
        try
        {
            using var running = DataTarget.AttachToProcess(pid, suspend: false, Options);
            if (running.ClrVersions.Length == 0)
            {
                return;
            }

            using var heap = ProcessHeap.Open(running, WarmUpWalk);
            heap.Capture(forceGc: false, snapshot => HeapReading.AllPendingOperations(heap, snapshot, described));
        }
        catch (Exception)
        {
            // The reading of the suspended process says what is wrong, if anything.
        }
    }

    /// <summary>How much heap the warm-up walks at most.</summary>
    private const ulong WarmUpWalk = 64UL << 20;

    private static readonly Stopwatch PhaseWatch = Stopwatch.StartNew();

    private static void Phase(string name)
    {
        if (Environment.GetEnvironmentVariable("NOLEAKS_TRACE") == "1")
        {
            Console.Error.WriteLine($"{PhaseWatch.ElapsedMilliseconds,6} ms  {name}");
        }
    }

    /// <summary>
    /// No symbol-server lookups: ClrMD asks its file locator for an image whose memory a read did not find (walking
    /// threads' stacks does), and its default locator needs Azure.Core, which is not shipped: creating it inside the
    /// runtime's data access layer's callback ended the process. Such a read fails instead, and the walk goes on.
    /// </summary>
    private static DataTargetOptions Options => new() { FileLocator = NoFileLocator.Instance };

    private static DataTarget Attach(int pid, string described, Stopwatch suspended)
    {
        suspended.Start();
        try
        {
            var attached = DataTarget.AttachToProcess(pid, suspend: true, Options);
            try
            {
                return new DataTarget(new SuspendedProcessReader(attached), Options);
            }
            catch (Exception)
            {
                attached.Dispose();
                throw;
            }
        }
        catch (Exception e)
        {
            suspended.Stop();
            if (!Exists(pid))
            {
                throw new CommandException(ExitCodes.NotDotNet, $"there is no process {pid}");
            }

            throw new CommandException(ExitCodes.PermissionDenied,
                $"attaching to {described} was refused ({e.Message}); run noleaks as the user the process runs as. "
                + "Linux allows tracing another process of that user only where kernel.yama.ptrace_scope is 0 "
                + "(sudo sysctl kernel.yama.ptrace_scope=0), or with CAP_SYS_PTRACE (sudo; in a container, --cap-add=SYS_PTRACE)");
        }
    }

    private static DataTarget LoadDump(string path)
    {
        if (!File.Exists(path))
        {
            throw new CommandException(ExitCodes.Usage, $"{path} is neither a process id nor a dump file");
        }

        try
        {
            using (File.OpenRead(path))
            {
            }
        }
        catch (UnauthorizedAccessException)
        {
            throw new CommandException(ExitCodes.PermissionDenied, $"{path} cannot be read by this user");
        }

        if (DumpFiles.TruncatedAt(path) is var (length, expected))
        {
            throw new CommandException(ExitCodes.UnreadableDump,
                $"{path} is truncated: {length:N0} bytes of the {expected:N0} its headers describe (was it copied before createdump finished?)");
        }

        try
        {
            return DataTarget.LoadDump(path, Options);
        }
        catch (Exception e)
        {
            throw new CommandException(ExitCodes.UnreadableDump, $"{path} is not a dump noleaks can read (a core dump written by createdump or dotnet-dump is): {e.Message}");
        }
    }

    private static bool Exists(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>"process 1234 (Shop.Api)": the name of the app a <c>dotnet app.dll</c> host runs.</summary>
    internal static string DescribeProcess(int pid)
    {
        if (!Exists(pid))
        {
            throw new CommandException(ExitCodes.NotDotNet, $"there is no process {pid}");
        }

        return $"process {pid} ({ProcessNames.Of(pid)})";
    }
}

/// <summary>Says on stderr that a read is still running, once it has taken more than a second.</summary>
internal sealed class Progress : IDisposable
{
    private readonly Timer _timer;
    private readonly TextWriter _output;
    private readonly string _target;
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private bool _written;
    private bool _succeeded;

    private Progress(TextWriter output, string target)
    {
        _output = output;
        _target = target;
        _timer = new Timer(_ => Tick(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public static Progress Start(TextWriter output, string target) => new(output, target);

    private void Tick()
    {
        lock (_output)
        {
            _output.WriteLine($"noleaks: reading {_target}… {_watch.Elapsed.TotalSeconds:0} s");
            _written = true;
        }
    }

    /// <summary>The reading is done: disposing says how long it took (a failed one says nothing; its error line follows).</summary>
    public void Succeeded() => _succeeded = true;

    public void Dispose()
    {
        _timer.Dispose();
        lock (_output)
        {
            if (_written && _succeeded)
            {
                _output.WriteLine($"noleaks: read {_target} in {_watch.Elapsed.TotalSeconds:0.0} s");
            }
        }
    }
}
