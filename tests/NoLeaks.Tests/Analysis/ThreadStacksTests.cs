using NoLeaks.Analysis;

namespace NoLeaks.Tests.Analysis;

/// <summary>
/// How the parent takes the stack reader's runs: a child that dies of a signal (a fault in the runtime's data access
/// library), or that names no frame of any thread, is started again, twice at most. FailingStackReader stands in for the
/// child.
/// </summary>
public class ThreadStacksTests : IDisposable
{
    private static readonly string Child = Path.Combine(AppContext.BaseDirectory, "FailingStackReader.dll");

    private static readonly string Counter = Path.Combine(Path.GetTempPath(), $"noleaks-failing-reader-{Environment.ProcessId}");

    public ThreadStacksTests()
    {
        Assert.True(File.Exists(Child), $"{Child} is missing: the test project references tests/TestTargets/FailingStackReader");
        Dispose();
    }

    public void Dispose()
    {
        File.Delete(Counter);
        File.Delete(Counter + ".runs");
    }

    private static int Runs => File.Exists(Counter + ".runs") ? File.ReadAllLines(Counter + ".runs").Length : 0;

    /// <summary>Reads with the stand-in child told how its next runs fail ("&lt;count&gt; crash|unnamed|empty").</summary>
    private static IReadOnlyList<ThreadStack>? ReadFailing(string order, out string? failure)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "thread stacks are read on Linux only");
        File.WriteAllText(Counter, order);
        return ThreadStacks.Read(Child, out failure);
    }

    [Fact(Timeout = 60_000)]
    public void A_child_that_crashed_is_started_again_and_its_answer_is_taken()
    {
        var stacks = ReadFailing("2 crash", out var failure);

        Assert.Null(failure);
        Assert.Equal(3, Runs);
        var thread = Assert.Single(stacks!);
        Assert.Equal("Blocker.Wait", Assert.Single(thread.Frames).Name);
    }

    [Fact(Timeout = 60_000)]
    public void A_child_that_crashes_every_time_is_started_three_times_and_the_failure_says_so()
    {
        var stacks = ReadFailing("5 crash", out var failure);

        Assert.Null(stacks);
        Assert.Equal(3, Runs);
        Assert.NotNull(failure);
        Assert.StartsWith("the stack reader failed (exit code 134)", failure, StringComparison.Ordinal);
        Assert.EndsWith(", three times", failure, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60_000)]
    public void A_read_that_names_no_frame_is_made_again()
    {
        var stacks = ReadFailing("2 unnamed", out var failure);

        Assert.Null(failure);
        Assert.Equal(3, Runs);
        Assert.Equal("Blocker.Wait", Assert.Single(Assert.Single(stacks!).Frames).Name);
    }

    [Fact(Timeout = 60_000)]
    public void Three_reads_that_name_no_frame_fail_with_why()
    {
        var stacks = ReadFailing("5 unnamed", out var failure);

        Assert.Null(stacks);
        Assert.Equal(3, Runs);
        Assert.Equal("the stack reader named no frame of any thread, three times", failure);
    }

    [Fact(Timeout = 60_000)]
    public void Reads_with_no_thread_at_all_are_an_empty_answer_not_a_failure()
    {
        // Only the threads that execute a task are read: the running work may have ended meanwhile.
        var stacks = ReadFailing("5 empty", out var failure);

        Assert.Null(failure);
        Assert.Equal(3, Runs);
        Assert.Empty(stacks!);
    }
}
