using System.Reflection;
using System.Runtime.CompilerServices;
using NoLeaks.Analysis;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Analysis;

/// <summary>
/// The call a blocked thread's code made, named from its stack as the user wrote it. The runtime inlines
/// <c>TaskAwaiter.GetResult()</c> into the caller, so the frame above the user's is one of the awaiters' non-public
/// helpers, which the user never called. Stacks are built here frame by frame (innermost first), as the stack reader
/// gives them, with the user's frame at the start of its statement.
/// </summary>
public class BlockingCallNameTests
{
    private static readonly MethodInfo AwaiterHelper =
        typeof(TaskAwaiter).GetMethod("HandleNonSuccessAndDebuggerNotification", BindingFlags.NonPublic | BindingFlags.Static)
        ?? throw new MissingMethodException(nameof(TaskAwaiter), "HandleNonSuccessAndDebuggerNotification");

    private static int BlockOnResult(Task<int> task) => task.GetAwaiter().GetResult(); // @result

    private static int BlockOnConfiguredResult(Task<int> task) => task.ConfigureAwait(false).GetAwaiter().GetResult(); // @configured

    private static void BlockOnEvent(ManualResetEventSlim gate) => gate.Wait(); // @event

    private static void BlockOnEventTwice(ManualResetEventSlim gate)
    {
        gate.Wait();
        gate.Wait();
    }

    // Never run: its IL is read, as a task's code whose one call does not lead to Monitor.Wait.
    private static void Sleep() => Thread.Sleep(10);

    [Fact]
    public void Get_result_on_an_awaiter_is_named_for_its_inlined_helper_frame()
    {
        var text = Describe(AwaiterHelper, nameof(BlockOnResult));

        Assert.Equal($"TaskAwaiter<int>.GetResult() at {FileLine("result")} (its thread is blocked)", text);
    }

    [Fact]
    public void Get_result_on_a_configured_awaiter_is_named_for_the_shared_helper_frame()
    {
        var text = Describe(AwaiterHelper, nameof(BlockOnConfiguredResult));

        Assert.Equal($"ConfiguredTaskAwaitable<int>.ConfiguredTaskAwaiter.GetResult() at {FileLine("configured")} (its thread is blocked)", text);
    }

    [Fact]
    public void A_public_call_the_user_made_keeps_its_own_name()
    {
        var wait = typeof(ManualResetEventSlim).GetMethod(nameof(ManualResetEventSlim.Wait), Type.EmptyTypes)!;

        var text = Describe(wait, nameof(BlockOnEvent));

        Assert.Equal($"ManualResetEventSlim.Wait() at {FileLine("event")} (its thread is blocked)", text);
    }

    // Dynamic PGO, once the runtime's code that runs delegates is hot, can inline the user's delegate into it: the thread
    // that runs the delegate then has no frame of the user's code, only the runtime's calls above the code that ran it.
    [Fact]
    public void A_stack_without_the_user_s_frame_names_the_innermost_public_call_and_says_the_line_is_unknown()
    {
        var sleep = typeof(Thread).GetMethod(nameof(Thread.Sleep), [typeof(int)])!;
        var helper = typeof(Thread).GetMethods(BindingFlags.NonPublic | BindingFlags.Static).First(m => !m.Name.StartsWith('<'));

        var text = RunningWork.Describe(Stack(helper, sleep, RunsDelegates, TaskRunner), new RunningWork.ModuleIndex());

        Assert.Equal("Thread.Sleep(int) (its thread is blocked; no frame of the code that called it is on the stack, so its line is not known)", text);
    }

    [Fact]
    public void A_local_function_without_the_user_s_frame_stands_for_the_method_it_is_declared_in()
    {
        // A P/Invoke's generated stub is such a local function (Monitor.Wait's, on .NET 10): any the framework has will do.
        var (type, local, holder) = typeof(object).Assembly.GetTypes()
            .Where(t => t.IsVisible && !t.IsGenericType && !t.IsNested)
            .SelectMany(t => t.GetMethods(BindingFlags.NonPublic | BindingFlags.Static).Select(m => (Type: t, Local: m)))
            .Select(entry => (entry.Type, entry.Local, Holder: entry.Local.Name is ['<', ..] name && name.IndexOf(">g__", StringComparison.Ordinal) is > 1 and var end ? name[1..end] : null))
            .First(entry => entry.Holder is { } name && entry.Type.GetMethods().Any(m => m.Name == name));

        var text = RunningWork.Describe(Stack(local, RunsDelegates, TaskRunner), new RunningWork.ModuleIndex());

        Assert.Equal($"{type.Name}.{holder}(…) (its thread is blocked; no frame of the code that called it is on the stack, so its line is not known)", text);
    }

    [Fact]
    public void A_stack_without_the_user_s_frame_names_the_one_call_of_the_task_s_code_that_leads_to_it_with_its_line()
    {
        // The overload ManualResetEventSlim.Wait() calls (what it calls in turn differs between runtimes: Monitor.Wait on
        // .NET 10, not within four calls on .NET 11).
        var wait = typeof(ManualResetEventSlim).GetMethod(nameof(ManualResetEventSlim.Wait), [typeof(int), typeof(CancellationToken)])!;
        var running = typeof(BlockingCallNameTests).GetMethod(nameof(BlockOnEvent), BindingFlags.NonPublic | BindingFlags.Static)!;

        var text = RunningWork.Describe(Stack(wait, RunsDelegates, TaskRunner), new RunningWork.ModuleIndex(), running);

        Assert.Equal($"ManualResetEventSlim.Wait() at {FileLine("event")} (its thread is blocked)", text);
    }

    [Theory]
    [InlineData(nameof(BlockOnEventTwice))]
    [InlineData(nameof(Sleep))]
    public void Without_exactly_one_such_call_only_the_innermost_public_call_is_named(string runningMethod)
    {
        var wait = typeof(Monitor).GetMethod(nameof(Monitor.Wait), [typeof(object), typeof(int)])!;
        var running = typeof(BlockingCallNameTests).GetMethod(runningMethod, BindingFlags.NonPublic | BindingFlags.Static)!;

        var text = RunningWork.Describe(Stack(wait, RunsDelegates, TaskRunner), new RunningWork.ModuleIndex(), running);

        Assert.Equal("Monitor.Wait(object, int) (its thread is blocked; no frame of the code that called it is on the stack, so its line is not known)", text);
    }

    [Fact]
    public void Only_the_calls_inside_the_code_that_runs_the_task_are_named()
    {
        // Nothing but the runtime's code that runs the task (and what runs it): its public methods are no call of the user's.
        Assert.Null(RunningWork.Describe(Stack(RunsDelegates, TaskRunner, typeof(Thread).GetMethod(nameof(Thread.Start), Type.EmptyTypes)!), new RunningWork.ModuleIndex()));
    }

    private static readonly MethodInfo RunsDelegates =
        typeof(ExecutionContext).GetMethod(nameof(ExecutionContext.Run), [typeof(ExecutionContext), typeof(ContextCallback), typeof(object)])!;

    private static readonly MethodInfo TaskRunner = typeof(Task).GetMethod(nameof(Task.RunSynchronously), Type.EmptyTypes)!;

    private static ThreadStack Stack(params MethodBase[] innermostFirst) =>
        new(1, 1, Preemptive: true, [], innermostFirst.Select(method => Frame(method, 0)).ToList());

    private static StackFrameInfo Frame(MethodBase method, int ilOffset) =>
        new(method.Module.Assembly.Location, method.MetadataToken, ilOffset, method.Name);

    private static string? Describe(MethodBase callee, string userMethod)
    {
        var user = typeof(BlockingCallNameTests).GetMethod(userMethod, BindingFlags.NonPublic | BindingFlags.Static)!;
        var stack = new ThreadStack(1, 1, Preemptive: true, [], [Frame(callee, 0), Frame(user, 0)]);
        return RunningWork.Describe(stack, new RunningWork.ModuleIndex());
    }

    private static string FileLine(string marker) => Path.GetFileName(SourceLine.At(marker));
}
