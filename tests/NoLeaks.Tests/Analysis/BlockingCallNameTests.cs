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

    private static string? Describe(MethodBase callee, string userMethod)
    {
        var user = typeof(BlockingCallNameTests).GetMethod(userMethod, BindingFlags.NonPublic | BindingFlags.Static)!;
        StackFrameInfo Frame(MethodBase method, int ilOffset) =>
            new(method.Module.Assembly.Location, method.MetadataToken, ilOffset, method.Name);
        var stack = new ThreadStack(1, 1, Preemptive: true, [], [Frame(callee, 0), Frame(user, 0)]);
        return RunningWork.Describe(stack, new RunningWork.ModuleIndex());
    }

    private static string FileLine(string marker) => Path.GetFileName(SourceLine.At(marker));
}
