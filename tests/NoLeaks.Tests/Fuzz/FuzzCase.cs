using System.Diagnostics;
using System.Text;

namespace NoLeaks.Tests.Fuzz;

/// <summary>When, relative to the end of the scope, a strand's gate is opened.</summary>
internal enum Ending
{
    /// <summary>After the report: the strand is left pending and must be reported.</summary>
    LeftPending,

    /// <summary>Before the scope ends, and the strand awaited: nothing of it may be reported.</summary>
    OpenedBeforeEnd,

    /// <summary>A few milliseconds after the end began, from a timer: during the grace period.</summary>
    OpenedDuringGrace,

    /// <summary>From inside the check itself (a filter the engine calls): completes in the middle of a check.</summary>
    OpenedFromFilter,
}

/// <summary>
/// What a report may contain for one piece of pending work: the innermost method's name (or acceptable alternatives,
/// where the engine's policy may legitimately name another frame), its kind, and whether it may be absent.
/// </summary>
/// <param name="Names">Acceptable values of <see cref="TaskLeak.Method"/>, the ideal one first.</param>
/// <param name="Kind">The kind it must have, or null for any.</param>
/// <param name="Optional">True when not reporting it is also right (a dormant continuation, a borderline completion).</param>
/// <param name="Why">What left it pending, for failure messages.</param>
internal sealed record Expected(string[] Names, LeakKind? Kind, bool Optional, string Why)
{
    /// <summary>A name ending in <c>*</c> matches every method that starts with the rest.</summary>
    public bool Matches(TaskLeak leak) =>
        Names.Any(n => n.EndsWith('*') ? leak.Method.StartsWith(n[..^1], StringComparison.Ordinal) : n == leak.Method)
        && (Kind is null || leak.Kind == Kind);

    public string Key => string.Join("|", Names) + "/" + Kind;
}

/// <summary>One generated strand: a leaf, 0–5 wrappers above it, a launcher, and when its gate opens.</summary>
internal sealed class Strand
{
    public required Leaf Leaf { get; init; }

    /// <summary>Innermost first: true for an async ValueTask wrapper, and whether it awaits with ConfigureAwait(false).</summary>
    public required (bool Value, bool Free)[] Wrappers { get; init; }

    public required Launch Launch { get; init; }

    public required Ending Ending { get; init; }

    public required GateOutcome Outcome { get; init; }

    public required TaskContinuationOptions ContinuationOptions { get; init; }

    public required TaskContinuationOptions LaunchOptions { get; init; }

    /// <summary>0 default, 1 exclusive, 2 concurrent (of the case's ConcurrentExclusiveSchedulerPair).</summary>
    public required int Scheduler { get; init; }

    public required bool WithState { get; init; }

    public required bool OpenInline { get; init; }

    public required int DelayMilliseconds { get; init; }

    public required Gate Gate { get; init; }

    public Task? Root { get; set; }

    public Task Start(ConcurrentExclusiveSchedulerPair pair)
    {
        var scheduler = Scheduler switch { 1 => pair.ExclusiveScheduler, 2 => pair.ConcurrentScheduler, _ => TaskScheduler.Default };
        var gate = Gate;
        Func<Task> current = Leaf switch
        {
            Leaf.Promise => () => FuzzShapes.PromiseLeaf(gate),
            Leaf.InfiniteDelay => () => FuzzShapes.DelayLeaf(gate),
            Leaf.Semaphore => () => FuzzShapes.SemaphoreLeaf(gate),
            Leaf.ChannelRead => () => FuzzShapes.ChannelLeaf(gate),
            Leaf.ValueTaskSource => () => FuzzShapes.SourceLeaf(gate),
            Leaf.CustomAwaiter => () => FuzzShapes.AwaiterLeaf(gate),
            Leaf.WaitAsync => () => FuzzShapes.WaitAsyncLeaf(gate),
            Leaf.AsyncIterator => () => FuzzShapes.IteratorConsumer(gate),
            Leaf.PoolingAwaited => () => FuzzShapes.AwaitPooling(gate),
            Leaf.PoolingOrphan => () => FuzzShapes.StartPoolingOrphan(gate),
            Leaf.RunAsyncLambda => () => FuzzShapes.RunAsyncLeaf(gate),
            Leaf.RunBlockingLambda => () => FuzzShapes.RunBlockingLeaf(gate),
            Leaf.LongRunningDelegate => () => FuzzShapes.LongRunningLeaf(gate),
            Leaf.ContinueWithOnPromise => () => FuzzShapes.ContinueWithLeaf(gate, ContinuationOptions, scheduler, WithState),
            Leaf.ContinueWithOnMethod => () => FuzzShapes.ContinueWithOnMethod(gate, ContinuationOptions, scheduler),
            Leaf.WhenAllOfTwo => () => FuzzShapes.WhenAllLeaf(gate),
            Leaf.WhenAnyWithOneDone => () => FuzzShapes.WhenAnyDoneLeaf(gate),
            Leaf.WhenAnyOfTwo => () => FuzzShapes.WhenAnyLeaf(gate),
            Leaf.SocketReceive => () => FuzzShapes.SocketLeaf(gate),
            Leaf.PipeRead => () => FuzzShapes.PipeLeaf(gate),
            Leaf.WithCancellationHelper => () => FuzzShapes.WithCancellationLeaf(gate),
            _ => () => FuzzShapes.StartAsyncVoid(gate),
        };

        foreach (var (value, free) in Wrappers)
        {
            var inner = current;
            current = value ? () => FuzzShapes.WrapValue(inner, free).AsTask() : () => FuzzShapes.Wrap(inner, free);
        }

        return Root = FuzzShapes.Launch(Launch, current, LaunchOptions, scheduler);
    }

    /// <summary>
    /// What the report may hold for this strand when its gate was still shut at the last check; <paramref name="early"/>:
    /// the check had no grace period, so the launcher may not have started the strand yet.
    /// </summary>
    public IEnumerable<Expected> WhenPending(bool optional, bool early)
    {
        if (early)
        {
            // Without a grace period the check sees the strand as it is at that instant: work queued and not run yet
            // is pending as the delegate that will run it (the launcher's, a continuation, the runtime's own task
            // resuming an await on a custom scheduler), and a method whose awaited work just finished has not resumed
            // yet. Only names foreign to the case would be wrong.
            return WhenStarted(optional: true)
                .Select(e => e with { Kind = null, Optional = true })
                .Append(new(
                    ["FuzzShapes.*", "Strand.Start (lambda)", "TaskSchedulerAwaitTaskContinuation.Run (lambda)"],
                    null,
                    Optional: true,
                    "work in flight"));
        }

        return WhenStarted(optional);
    }

    private IEnumerable<Expected> WhenStarted(bool optional)
    {
        var why = $"{Leaf} under {Wrappers.Length} wrapper(s), launched by {Launch}";
        var nearest = Wrappers.Length == 0 ? null : FuzzShapes.Name(Wrappers[0].Value ? nameof(FuzzShapes.WrapValue) : nameof(FuzzShapes.Wrap));
        Expected Method(string name) => new([FuzzShapes.Name(name)], LeakKind.AsyncMethod, optional, why);
        switch (Leaf)
        {
            case Leaf.Promise or Leaf.ContinueWithOnMethod or Leaf.WhenAnyWithOneDone:
                yield return Method(nameof(FuzzShapes.PromiseLeaf));
                break;
            case Leaf.InfiniteDelay:
                yield return Method(nameof(FuzzShapes.DelayLeaf));
                break;
            case Leaf.Semaphore:
                yield return Method(nameof(FuzzShapes.SemaphoreLeaf));
                break;
            case Leaf.ChannelRead:
                yield return Method(nameof(FuzzShapes.ChannelLeaf));
                break;
            case Leaf.ValueTaskSource:
                yield return Method(nameof(FuzzShapes.SourceLeaf));
                break;
            case Leaf.CustomAwaiter:
                yield return Method(nameof(FuzzShapes.AwaiterLeaf));
                break;
            case Leaf.WaitAsync:
                yield return Method(nameof(FuzzShapes.WaitAsyncLeaf));
                break;
            case Leaf.AsyncIterator:
                yield return Method(nameof(FuzzShapes.Iterate));
                break;
            case Leaf.PoolingAwaited:
                // A pooling box is no Task: runtime tracking sees the method awaiting it; a source that sees the box
                // names the pooled method itself.
                yield return new([FuzzShapes.Name(nameof(FuzzShapes.PoolingLeaf)), FuzzShapes.Name(nameof(FuzzShapes.AwaitPooling))], LeakKind.AsyncMethod, optional, why);
                break;
            case Leaf.PoolingOrphan:
                // Awaited by nobody: only a source that sees pooling boxes can report it.
                yield return new([FuzzShapes.Name(nameof(FuzzShapes.PoolingLeaf))], LeakKind.AsyncMethod, Optional: true, why);
                break;
            case Leaf.RunAsyncLambda:
                yield return new([FuzzShapes.Lambda(nameof(FuzzShapes.RunAsyncLeaf))], LeakKind.AsyncMethod, optional, why);
                break;
            case Leaf.RunBlockingLambda:
                yield return new([FuzzShapes.Lambda(nameof(FuzzShapes.RunBlockingLeaf))], LeakKind.DelegateTask, optional, why);
                break;
            case Leaf.LongRunningDelegate:
                yield return new([FuzzShapes.Lambda(nameof(FuzzShapes.LongRunningLeaf))], LeakKind.DelegateTask, optional, why);
                break;
            case Leaf.ContinueWithOnPromise:
                // A continuation never started on a promise nobody completes: dormant, listed apart from the leaks.
                yield return new([FuzzShapes.Lambda(nameof(FuzzShapes.ContinueWithLeaf))], LeakKind.DormantContinuation, optional, why + " (dormant)");
                break;
            case Leaf.SocketReceive:
                yield return Method(nameof(FuzzShapes.SocketLeaf));
                break;
            case Leaf.PipeRead:
                // On Unix a pipe is a socket: the innermost pending method is the runtime's own PipeStream.ReadAsyncCore.
                yield return new(["PipeStream.ReadAsyncCore", FuzzShapes.Name(nameof(FuzzShapes.PipeLeaf))], LeakKind.AsyncMethod, optional, why);
                break;
            case Leaf.WithCancellationHelper:
                yield return Method(nameof(FuzzShapes.WithCancellation));
                break;
            case Leaf.AsyncVoid:
                yield return Method(nameof(FuzzShapes.VoidLeaf));
                break;
            case Leaf.WhenAllOfTwo or Leaf.WhenAnyOfTwo:
                yield return Method(nameof(FuzzShapes.PromiseLeaf));
                yield return Method(nameof(FuzzShapes.DelayLeaf));
                break;
        }
    }

    public override string ToString()
    {
        var wrappers = string.Join(" > ", Enumerable.Reverse(Wrappers).Select(w => (w.Value ? "WrapValue" : "Wrap") + (w.Free ? "(CAF)" : "")));
        return $"{Launch}: {(wrappers.Length > 0 ? wrappers + " > " : "")}{Leaf} [{Ending}{(Ending is Ending.OpenedDuringGrace ? $" +{DelayMilliseconds} ms" : "")}"
            + $"{(Ending is Ending.OpenedFromFilter ? (OpenInline ? " inline" : " on the pool") : "")}, {Outcome}, "
            + $"continuation {ContinuationOptions}{(WithState ? " with state" : "")}, launch {LaunchOptions}, scheduler {Scheduler}, "
            + $"promise {(Gate.Promise.Task.CreationOptions == TaskCreationOptions.None ? "sync" : "async")} continuations]";
    }
}

/// <summary>One generated case: its strands, and how its scope is ended.</summary>
internal sealed class FuzzCase
{
    private static readonly TaskContinuationOptions[] ContinuationFlags =
    [
        TaskContinuationOptions.ExecuteSynchronously, TaskContinuationOptions.RunContinuationsAsynchronously,
        TaskContinuationOptions.LongRunning, TaskContinuationOptions.PreferFairness, TaskContinuationOptions.HideScheduler,
        TaskContinuationOptions.DenyChildAttach, TaskContinuationOptions.LazyCancellation,
    ];

    // Only for the dormant leaf: with them a continuation is cancelled instead of run, which is also complete.
    private static readonly TaskContinuationOptions[] OutcomeFlags =
    [
        TaskContinuationOptions.NotOnRanToCompletion, TaskContinuationOptions.NotOnFaulted, TaskContinuationOptions.NotOnCanceled,
    ];

    private FuzzCase(int seed, List<Strand> strands, bool endInsideContinuation, bool cancelledEnd, bool countDormant)
    {
        CountDormant = countDormant;
        Seed = seed;
        Strands = strands;
        EndInsideContinuation = endInsideContinuation;
        CancelledEnd = cancelledEnd;
    }

    public int Seed { get; }

    public List<Strand> Strands { get; }

    /// <summary>The scope is ended from inside a ContinueWith(ExecuteSynchronously) continuation the scope owns.</summary>
    public bool EndInsideContinuation { get; }

    /// <summary>NoLeaksOptions.CountDormantContinuations: dormant continuations are leaks.</summary>
    public bool CountDormant { get; }

    /// <summary>The scope is ended with a token that is already cancelled (no grace period).</summary>
    public bool CancelledEnd { get; }

    public static FuzzCase Generate(int seed)
    {
        var random = new Random(seed);
        var strands = new List<Strand>();
        var count = random.Next(1, 5);
        var blocking = false;
        for (var i = 0; i < count; i++)
        {
            var leaf = (Leaf)random.Next(Enum.GetValues<Leaf>().Length);
            if (leaf == Leaf.RunBlockingLambda)
            {
                // One thread-pool thread blocked per case at most: the pool is shared with the other cases.
                if (blocking)
                {
                    leaf = Leaf.Promise;
                }

                blocking = true;
            }

            var wrappers = new (bool, bool)[random.Next(0, 6)];
            for (var w = 0; w < wrappers.Length; w++)
            {
                wrappers[w] = (random.Next(4) == 0, random.Next(3) == 0);
            }

            var continuation = Flags(random, ContinuationFlags);
            if (random.Next(3) == 0)
            {
                continuation |= OutcomeFlags[random.Next(OutcomeFlags.Length)];
            }

            strands.Add(new Strand
            {
                Leaf = leaf,
                Wrappers = wrappers,
                Launch = (Launch)random.Next(Enum.GetValues<Launch>().Length),
                Ending = (Ending)random.Next(Enum.GetValues<Ending>().Length),
                Outcome = (GateOutcome)random.Next(3),
                ContinuationOptions = Valid(continuation),
                LaunchOptions = Valid(Flags(random, ContinuationFlags)),
                Scheduler = random.Next(3),
                WithState = random.Next(2) == 0,
                OpenInline = random.Next(2) == 0,
                DelayMilliseconds = random.Next(0, 11),
                Gate = new Gate(random.Next(2) == 0, random.Next(2) == 0, io: leaf is Leaf.SocketReceive or Leaf.PipeRead),
            });
        }

        return new FuzzCase(seed, strands, endInsideContinuation: random.Next(10) == 0, cancelledEnd: random.Next(20) == 0 && CancelledEnds, countDormant: random.Next(10) == 0);
    }

    private static TaskContinuationOptions Flags(Random random, TaskContinuationOptions[] flags)
    {
        var options = TaskContinuationOptions.None;
        foreach (var flag in flags)
        {
            if (random.Next(4) == 0)
            {
                options |= flag;
            }
        }

        return options;
    }

    /// <summary>Drops the flags ContinueWith rejects together.</summary>
    private static TaskContinuationOptions Valid(TaskContinuationOptions options)
    {
        if (options.HasFlag(TaskContinuationOptions.ExecuteSynchronously))
        {
            options &= ~(TaskContinuationOptions.LongRunning | TaskContinuationOptions.RunContinuationsAsynchronously);
        }

        return options;
    }

    /// <summary>
    /// Whether cases may end their scope with a cancelled token (<c>NOLEAKS_FUZZ_CANCELLED_END=1</c>). Off by default:
    /// such a check has no grace period and reports work that is in flight (a continuation queued a moment before),
    /// which this oracle cannot always tell from work left behind.
    /// </summary>
    public static bool CancelledEnds { get; } = Environment.GetEnvironmentVariable("NOLEAKS_FUZZ_CANCELLED_END") == "1";

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("case seed ").Append(Seed);
        if (EndInsideContinuation)
        {
            text.Append(", ended inside a continuation");
        }

        if (CancelledEnd)
        {
            text.Append(", ended with a cancelled token");
        }

        if (CountDormant)
        {
            text.Append(", dormant continuations counted");
        }

        foreach (var strand in Strands)
        {
            text.AppendLine().Append("  ").Append(strand);
        }

        return text.ToString();
    }
}
