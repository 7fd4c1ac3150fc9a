using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;
using NoLeaks.Xunit.Tests.Support;

namespace NoLeaks.Xunit.Tests;

// End to end, on xunit v2 and v3: shapes met on real suites (tests/Fixtures/Shared/RealSuiteTests.cs).
public sealed class RealSuiteShapesTests
{
    private const int Timeout = 120_000;

    // xunit v3 ends a test on the stack it resumed on; v2 resumes it on its own SynchronizationContext.
    [Fact(Timeout = Timeout)]
    public async Task Test_that_ends_inside_a_continuation_it_started_passes()
    {
        var test = (await Checked("V3"))["RealSuiteTests.Test_that_ends_inside_a_synchronous_continuation_passes"];

        Assert.Equal(("Passed", ""), (test.Outcome, test.Message));
    }

    // The check awaits its grace period (xunit v3's asynchronous test notification): the thread the test ended on runs
    // the continuation to its end meanwhile, and the work blocked on that continuation ends too.
    [Fact(Timeout = Timeout)]
    public async Task Work_waiting_for_the_continuation_a_test_ends_inside_is_not_left_behind()
    {
        var test = (await Checked("V3"))["RealSuiteTests.Work_waiting_for_the_continuation_the_test_ends_inside_passes"];

        Assert.Equal(("Passed", ""), (test.Outcome, test.Message));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Dormant_tripwire_passes_and_a_continuation_on_a_timer_fails(string xunit)
    {
        var run = await Checked(xunit);

        Assert.Equal("Passed", run["RealSuiteTests.Tripwire_on_a_promise_nobody_completes_passes"].Outcome);
        var timer = run["RealSuiteTests.Continuation_on_a_timer_that_will_fire_fails"];
        Assert.Equal("Failed", timer.Outcome);
        Assert.Contains(
            $"RealSuiteTests.Continuation_on_a_timer_that_will_fire_fails (lambda)  ContinueWith continuation, not started, defined at {FixtureSource()}:{Line("timer-continuation")}",
            timer.Message);
        Assert.Contains("waiting on  its antecedent, Task.Delay(…)", timer.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Two_lambdas_of_one_method_are_two_entries_each_with_its_line(string xunit)
    {
        var test = (await Checked(xunit))["RealSuiteTests.Two_lambdas_on_two_lines_are_two_entries"];

        Assert.Contains("NoLeaks: 2 leaked async operations from", test.Message);
        Assert.DoesNotContain("(x2)", test.Message);
        Assert.Contains($"(lambda)  suspended at {FixtureSource()}:{Line("lambda-one")}", test.Message);
        Assert.Contains($"(lambda)  suspended at {FixtureSource()}:{Line("lambda-two")}", test.Message);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_delegate_blocked_on_its_thread_names_the_blocking_call_and_its_line()
    {
        // Alone in a process of its own: the read stops the process it reads, which would eat into the grace periods of
        // the fixture's other tests running beside it.
        var run = await FixtureRun.RunAsync(
            "XunitV3Fixture",
            action: null,
            new Dictionary<string, string> { ["NOLEAKS_THREAD_STACKS"] = "1" },
            ["-method", "NoLeaks.Fixtures.RealSuiteTests.Delegate_blocked_on_its_thread_names_the_blocking_call"]);
        var test = run["RealSuiteTests.Delegate_blocked_on_its_thread_names_the_blocking_call"];

        Assert.Equal("Failed", test.Outcome);
        Assert.Contains("delegate task, running", test.Message);
        Assert.Contains($"waiting on  ManualResetEventSlim.Wait() at RealSuiteTests.cs:{Line("blocked-wait")} (its thread is blocked)", test.Message);
        Assert.DoesNotContain("NoLeaks warning", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Work_queued_behind_a_starved_thread_pool_is_waited_for_and_the_test_passes(string xunit)
    {
        // Alone in a process of its own: the fixture test caps the thread pool and starves it for 3 s.
        var test = await Alone(xunit, "Work_queued_behind_a_starved_pool_passes_once_it_has_run", "NOLEAKS_FIXTURE_STARVE", "1");

        Assert.Equal(("Passed", ""), (test.Outcome, test.Message));
        var said = string.Join('\n', [test.Output, .. test.Warnings]);
        Assert.Contains("the thread pool was starved when the grace period ended", said);
        Assert.Contains("the check waited", said);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Unasked_a_delegate_blocked_on_its_thread_names_the_blocking_call_while_other_tests_run(string xunit)
    {
        // The default (no NOLEAKS_THREAD_STACKS, no option), in the fixture's whole parallel run: the report reads the
        // thread's stack while other tests are being checked, and no other test's outcome changes. (When the reader
        // stopped the whole process, a fixture-ownership test beside it failed in 2 runs of 4: its grace period ran on
        // while its work stood still.)
        var read = await FixtureRun.Of($"Xunit{xunit}Fixture", action: null, "NOLEAKS_THREAD_STACKS=");
        var test = read["RealSuiteTests.Delegate_blocked_on_its_thread_names_the_blocking_call"];

        Assert.Equal("Failed", test.Outcome);
        var named = $"waiting on  ManualResetEventSlim.Wait() at RealSuiteTests.cs:{Line("blocked-wait")} (its thread is blocked)";
        Assert.True(test.Message?.Contains(named, StringComparison.Ordinal) == true, $"the report does not say \"{named}\":\n{test.Message}\n{test.Output}");
        Assert.DoesNotContain("NoLeaks warning", test.Message);
        var unread = await Checked(xunit);
        Assert.Equal(Outcomes(unread), Outcomes(read));
    }

    private static IEnumerable<string> Outcomes(FixtureRun run) => run.Tests.Select(t => $"{t.Name}: {t.Outcome}").Order();

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task A_delegate_blocked_on_its_thread_keeps_its_text_when_stacks_are_not_read(string xunit)
    {
        // The fixture's whole run, with NOLEAKS_THREAD_STACKS=0 (FixtureProcess).
        var test = (await Checked(xunit))["RealSuiteTests.Delegate_blocked_on_its_thread_names_the_blocking_call"];

        Assert.Equal("Failed", test.Outcome);
        Assert.Contains("waiting on  nothing: its delegate is still running", test.Message);
        Assert.Contains("To name the call a running delegate is in, read its thread's stack: NOLEAKS_THREAD_STACKS=1", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task A_ContinueWith_continuation_continues_and_does_not_await(string xunit)
    {
        var test = (await Checked(xunit))["RealSuiteTests.Continuation_of_a_leaked_method_says_it_continues"];

        Assert.Contains($"LeakyWork.ContinuedAsync  suspended at {Path.Combine(Path.GetDirectoryName(FixtureSource())!, "LeakyWork.cs")}:", test.Message);
        Assert.Contains(
            $"continued by  RealSuiteTests.Continuation_of_a_leaked_method_says_it_continues (lambda) (ContinueWith), defined at {FixtureSource()}:{Line("continued-by")}",
            test.Message);
        Assert.DoesNotContain("awaited by", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task A_leak_says_which_static_holds_it(string xunit)
    {
        // The search, as a user's run has it (fixture runs switch it off: FixtureProcess), with a budget a loaded machine
        // cannot exhaust.
        var test = await Alone(xunit, "Continuation_of_a_leaked_method_says_it_continues", FixtureProcess.RetentionBudgetVariable, FixtureProcess.AmpleSearchBudget);

        Assert.Equal("Failed", test.Outcome);
        Assert.DoesNotContain("NoLeaks warning", test.Message);
        FixtureProcess.AssertHeldByStatic(test.Message, "LeakyWork.Gate");
    }

    [Fact(Timeout = Timeout)]
    public async Task NOLEAKS_RETENTION_BUDGET_MS_0_switches_the_search_off()
    {
        // The fixture's whole run, with NOLEAKS_RETENTION_BUDGET_MS=0 (FixtureProcess).
        var test = (await Checked("V3"))["RealSuiteTests.Continuation_of_a_leaked_method_says_it_continues"];

        Assert.Equal("Failed", test.Outcome);
        Assert.DoesNotContain("held by", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Work_nothing_can_reach_fails_at_once_as_never_resuming(string xunit)
    {
        var test = (await Checked(xunit))["RealSuiteTests.Await_on_a_completion_source_nobody_holds_fails_at_once"];

        var leakyWork = Path.Combine(Path.GetDirectoryName(FixtureSource())!, "LeakyWork.cs");
        Assert.Equal("Failed", test.Outcome);
        Assert.Contains($"LeakyWork.OrphanedAsync  suspended at {leakyWork}:{SourceLine.Of("orphaned-await", leakyWork)}", test.Message);
        Assert.Contains("verdict     can never resume", test.Message);
        Assert.Contains("reported at once, without waiting the grace period of 30.00 s", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task The_names_a_report_shows_are_patterns_that_allow_the_leak(string xunit)
    {
        var run = await Checked(xunit);

        Assert.Equal("Passed", run["RealSuiteTests.Leak_allowed_by_the_name_its_report_shows_passes"].Outcome);
        Assert.Equal("Passed", run["RealSuiteTests.Lambda_allowed_by_the_name_its_report_shows_passes"].Outcome);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task A_test_that_failed_on_its_own_gets_the_report_once_and_no_NoLeaks_frames(string xunit)
    {
        var test = (await Checked(xunit))["MethodLevelTests.Test_that_throws_and_leaks_keeps_its_own_failure"];

        Assert.Contains("the test's own failure", test.Message);
        Assert.Contains("NoLeaks: 1 leaked async operation from", test.Message);
        Assert.DoesNotContain("suspended at", test.Message);
        Assert.Single(test.Output.Split('\n'), line => line.Contains("LeakyWork.OwnFailureAsync  suspended at", StringComparison.Ordinal));
        Assert.DoesNotContain("NoLeaks.Xunit.Sdk", test.StackTrace);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task A_failure_carries_the_report_without_NoLeaks_frames(string xunit)
    {
        var test = (await Checked(xunit))["MethodLevelTests.Leak_in_method_level_test_fails"];

        Assert.Contains("LeakyWork.MethodLevelAsync  suspended at", test.Message);
        Assert.DoesNotContain("NoLeaks.", test.StackTrace);
    }

    private static Task<FixtureRun> Checked(string xunit) => FixtureRun.Of($"Xunit{xunit}Fixture");

    /// <summary>One test of RealSuiteTests in a fixture process of its own, with one environment variable set.</summary>
    private static async Task<FixtureTest> Alone(string xunit, string method, string variable, string value)
    {
        var run = await FixtureRun.RunAsync(
            $"Xunit{xunit}Fixture",
            action: null,
            new Dictionary<string, string> { [variable] = value },
            [xunit == "V3" ? "-method" : "--method", "NoLeaks.Fixtures.RealSuiteTests." + method]);
        return run["RealSuiteTests." + method];
    }

    private static int Line(string marker) => SourceLine.Of(marker, FixtureSource());

    private static string FixtureSource([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "Shared", "RealSuiteTests.cs"));
}
