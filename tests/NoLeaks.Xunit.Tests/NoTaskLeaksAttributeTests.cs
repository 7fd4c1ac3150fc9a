using System.Runtime.CompilerServices;
using NoLeaks.Tests.Support;
using NoLeaks.Xunit.Tests.Support;

namespace NoLeaks.Xunit.Tests;

// End to end: each test runs the fixture programs of tests/Fixtures (the same test sources on xunit v2 and on
// xunit v3, with NoLeaks.Xunit or NoLeaks.XunitV3) in their own process and reads their results.
public sealed class NoTaskLeaksAttributeTests
{
    private const int Timeout = 120_000;

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Exactly_the_tests_that_leak_fail(string xunit)
    {
        var run = await Checked(xunit);

        Assert.Equal(
        [
            "ClassLevelTests.Leak_in_class_level_test_fails",
            "LazyHostTests.Leak_of_its_own_beside_the_host_fails",
            "MethodLevelTests.Leak_in_method_level_test_fails",
            "MethodLevelTests.Leak_in_timeout_test_fails",
            "MethodLevelTests.Test_that_throws_and_leaks_keeps_its_own_failure",
            "MethodLevelTests.Theory_row_that_leaks_fails(leaks: True)",
            "ParallelLeakTests.Leak_in_parallel_collection_fails",
            "RealSuiteTests.Await_on_a_completion_source_nobody_holds_fails_at_once",
            "RealSuiteTests.Continuation_of_a_leaked_method_says_it_continues",
            "RealSuiteTests.Continuation_on_a_timer_that_will_fire_fails",
            "RealSuiteTests.Delegate_blocked_on_its_thread_names_the_blocking_call",
            "RealSuiteTests.Two_lambdas_on_two_lines_are_two_entries",
        ], run.Failed);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Leak_in_method_level_test_fails_with_the_await_line(string xunit) =>
        AssertLeakReported((await Checked(xunit))["MethodLevelTests.Leak_in_method_level_test_fails"], "MethodLevelAsync", "method-level-await");

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Leak_in_class_level_test_fails_with_the_await_line(string xunit) =>
        AssertLeakReported((await Checked(xunit))["ClassLevelTests.Leak_in_class_level_test_fails"], "ClassLevelAsync", "class-level-await");

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Leak_in_assembly_level_test_fails_with_the_await_line(string xunit) =>
        AssertLeakReported((await AssemblyLevel(xunit))["AssemblyLevelTests.Leak_in_assembly_level_test_fails"], "AssemblyLevelAsync", "assembly-level-await");

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Leak_in_one_theory_row_fails_only_that_row(string xunit)
    {
        var run = await Checked(xunit);

        AssertLeakReported(run["MethodLevelTests.Theory_row_that_leaks_fails(leaks: True)"], "TheoryRowAsync", "theory-await");
        Assert.Equal("Passed", run["MethodLevelTests.Theory_row_that_leaks_fails(leaks: False)"].Outcome);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Leak_in_async_test_with_a_timeout_fails_with_the_await_line(string xunit) =>
        AssertLeakReported((await Checked(xunit))["MethodLevelTests.Leak_in_timeout_test_fails"], "TimeoutAsync", "timeout-await");

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Test_that_fails_on_its_own_keeps_its_failure_and_gets_the_leak_report(string xunit)
    {
        var test = (await Checked(xunit))["MethodLevelTests.Test_that_throws_and_leaks_keeps_its_own_failure"];

        Assert.Contains("the test's own failure", test.Message);
        Assert.Contains("NoLeaks: 1 leaked async operation from", test.Message);
        Assert.Contains($"LeakyWork.OwnFailureAsync  suspended at {LeakyWorkSource()}:{AwaitLine("own-failure-await")}", test.Output);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Parallel_collections_each_see_only_their_own_work(string xunit)
    {
        var run = await Checked(xunit);

        AssertLeakReported(run["ParallelLeakTests.Leak_in_parallel_collection_fails"], "ParallelAsync", "parallel-await");
        Assert.Equal("Passed", run["ParallelCleanTests.Clean_test_in_parallel_collection_passes"].Outcome);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Clean_tests_pass_with_work_stopped_in_Dispose_and_work_of_fixtures(string xunit)
    {
        var run = await Checked(xunit);

        Assert.All(
            new[]
            {
                "MethodLevelTests.Clean_async_test_passes",
                "ClassLevelTests.Clean_class_level_test_passes",
                "DisposeTests.Work_stopped_in_Dispose_is_not_a_leak",
                "AsyncLifetimeTests.Work_stopped_in_DisposeAsync_is_not_a_leak",
                "ClassFixtureTests.Work_of_a_class_fixture_is_not_the_test_s",
                "CollectionFixtureTests.Work_of_a_collection_fixture_is_not_the_test_s",
            },
            name => Assert.Equal(("Passed", ""), (run[name].Outcome, run[name].Output)));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Unmarked_skipped_and_allowed_tests_are_not_checked(string xunit)
    {
        var run = await Checked(xunit);

        Assert.Equal("Passed", run["MethodLevelTests.Unmarked_test_that_leaks_passes"].Outcome);
        Assert.Equal("Skipped", run["MethodLevelTests.Skipped_test_is_not_checked"].Outcome);
        if (xunit == "V3")
        {
            Assert.Equal("Skipped", run["MethodLevelTests.Test_skipped_at_run_time_is_not_checked"].Outcome);
        }

        Assert.Equal("Passed", run["ClassLevelTests.Allowed_leak_passes"].Outcome);
        Assert.Equal("Passed", (await AssemblyLevel(xunit))["AssemblyLevelTests.Allowed_leak_passes"].Outcome);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Closest_level_wins_and_a_test_marked_at_three_levels_is_checked_once(string xunit)
    {
        var run = await AssemblyLevel(xunit);

        Assert.Equal("Passed", run["ClassOverAssemblyTests.Class_level_settings_win_over_assembly_level"].Outcome);
        Assert.Equal("Passed", run["AssemblyLevelTests.Clean_assembly_level_test_passes"].Outcome);
        var test = run["ClassOverAssemblyTests.Test_marked_at_three_levels_is_checked_once"];
        AssertLeakReported(test, "MethodLevelAsync", "method-level-await");
        Assert.Single(test.Output.Split('\n'), line => line.StartsWith("NoLeaks: ", StringComparison.Ordinal));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Warn_mode_turns_leak_failures_into_warnings(string xunit)
    {
        var run = await FixtureRun.Of($"Xunit{xunit}Fixture", action: "warn");

        Assert.Equal(["MethodLevelTests.Test_that_throws_and_leaks_keeps_its_own_failure"], run.Failed);
        var test = run["ClassLevelTests.Leak_in_class_level_test_fails"];
        Assert.Equal("Passed", test.Outcome);
        Assert.Contains($"LeakyWork.ClassLevelAsync  suspended at {LeakyWorkSource()}:{AwaitLine("class-level-await")}", test.Output);
        if (xunit == "V3")
        {
            // The warning is the report's first line; the report itself is in the output, which TRX files keep.
            var headline = Assert.Single(test.Output.Split('\n'), line => line.StartsWith("NoLeaks: 1 leaked async operation from NoLeaks.Fixtures.ClassLevelTests.Leak_in_class_level_test_fails (", StringComparison.Ordinal));
            Assert.Equal(headline.TrimEnd('\r'), Assert.Single(test.Warnings));
        }
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Off_mode_checks_nothing(string xunit)
    {
        var run = await FixtureRun.Of($"Xunit{xunit}Fixture", action: "off");

        Assert.Equal(["MethodLevelTests.Test_that_throws_and_leaks_keeps_its_own_failure"], run.Failed);
        Assert.DoesNotContain(run.Tests, test => test.Output.Contains("NoLeaks", StringComparison.Ordinal));

        // Nothing checked, nothing tracked: the test that asserts the runtime's tracking is off passed.
        Assert.Equal("Passed", run["TrackingSwitchTests.Runtime_task_tracking_is_on_only_when_tests_are_checked"].Outcome);
        Assert.Equal("Passed", (await Checked(xunit))["TrackingSwitchTests.Runtime_task_tracking_is_on_only_when_tests_are_checked"].Outcome);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_check_that_fails_is_a_warning_by_default()
    {
        var run = await FixtureRun.Of("XunitV3Fixture", action: null, "NOLEAKS_INJECT_CHECK_FAILURE=1");

        Assert.Equal(["MethodLevelTests.Test_that_throws_and_leaks_keeps_its_own_failure"], run.Failed);
        var test = run["MethodLevelTests.Clean_async_test_passes"];
        Assert.Contains("was not checked for leaked async operations", Assert.Single(test.Warnings));
        Assert.Contains("injected by NOLEAKS_INJECT_CHECK_FAILURE=1", test.Warnings[0]);
        Assert.Contains("Set NOLEAKS_STRICT=1", test.Warnings[0]);
    }

    [Fact(Timeout = Timeout)]
    public async Task Strict_mode_fails_every_checked_test_whose_check_failed()
    {
        var run = await FixtureRun.Of("XunitV3Fixture", action: null, "NOLEAKS_INJECT_CHECK_FAILURE=1", "NOLEAKS_STRICT=1");

        var test = run["MethodLevelTests.Clean_async_test_passes"];
        Assert.Equal("Failed", test.Outcome);
        Assert.Contains("was not checked for leaked async operations", test.Message);
        Assert.Contains("This fails the test because NOLEAKS_STRICT=1", test.Message);
        Assert.Contains("injected by NOLEAKS_INJECT_CHECK_FAILURE=1", test.Message);
        Assert.Equal("Passed", run["MethodLevelTests.Unmarked_test_that_leaks_passes"].Outcome);
        Assert.Equal("Passed", run["ClassLevelTests.Allowed_leak_passes"].Outcome);
        Assert.Contains("ClassLevelTests.Clean_class_level_test_passes", run.Failed);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Ignore_lists_add_up_over_the_levels_and_other_settings_come_from_the_closest(string xunit)
    {
        var run = await AssemblyLevel(xunit);

        Assert.Equal(("Passed", ""), (run["SettingsLevelTests.Ignore_lists_of_all_levels_add_up"].Outcome, Said(run["SettingsLevelTests.Ignore_lists_of_all_levels_add_up"])));
        AssertLeakReported(run["SettingsLevelTests.Scalar_settings_come_from_the_closest_level"], "MethodLevelAsync", "method-level-await");
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Bad_settings_are_named_in_the_test_s_output(string xunit)
    {
        var run = await AssemblyLevel(xunit);

        var bad = run["BadSettingsTests.Bad_settings_are_named_in_the_output"];
        Assert.Equal("Passed", bad.Outcome);
        Assert.Contains("[NoTaskLeaks(GracePeriodMilliseconds = -5)] is negative", Said(bad));
        Assert.Equal(2, Occurrences(Said(bad), "holds an empty pattern"));
        var optOut = run["BadSettingsTests.Opt_out_without_a_reason_is_named_in_the_output"];
        Assert.Equal("Passed", optOut.Outcome);
        Assert.Equal(1, Occurrences(Said(optOut), "[AllowTaskLeaks] on the test method gives no reason"));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Grace_period_beyond_60_s_is_cut_with_a_warning_that_survives_the_wait(string xunit)
    {
        var test = (await AssemblyLevel(xunit))["BadSettingsTests.Grace_period_beyond_the_longest_is_cut_with_a_warning"];

        Assert.Equal("Passed", test.Outcome);
        Assert.Contains("is longer than the longest allowed (60 s); 60 s was used.", Said(test));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Grace_period_ends_with_the_test_s_Timeout(string xunit)
    {
        var test = (await AssemblyLevel(xunit))["BadSettingsTests.Grace_period_ends_with_the_test_s_time_limit"];

        AssertLeakReported(test, "TimeLimitAsync", "time-limit-await");
        // A 2 s limit leaves a grace period of 2 s less a quarter, less what the test itself took (under load, on a
        // runtime that JIT-compiles the fixture's code first, that can be more than half a second).
        Assert.InRange(ReportText.GracePeriodSeconds(test.Message) ?? -1, 0.0, 1.5);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Unknown_NOLEAKS_ACTION_is_named_in_a_report_made_after_the_grace_period(string xunit)
    {
        var run = await FixtureRun.Of($"Xunit{xunit}AssemblyLevelFixture", action: "bogus");

        var test = run["AssemblyLevelTests.Leak_in_assembly_level_test_fails"];
        AssertLeakReported(test, "AssemblyLevelAsync", "assembly-level-await");
        // (xunit v3's result file escapes the quotes around the value.)
        Assert.Matches(@"NoLeaks warning: NOLEAKS_ACTION=\\?""bogus\\?"" is not fail, warn or off; it was ignored\.", test.Message);
    }

    [Fact(Timeout = Timeout)]
    public async Task Xunit_v2_project_with_its_own_test_framework_is_told_once_what_it_loses()
    {
        var run = await FixtureRun.Of("XunitV2OwnFrameworkFixture");

        // Checked before disposal (and after construction): work that Dispose stops is reported, work the
        // constructor starts is not seen.
        var leak = run["OwnFrameworkTests.Leak_is_still_caught"];
        Assert.Equal("Failed", leak.Outcome);
        Assert.Contains("LeakyWork.MethodLevelAsync", leak.Message);
        Assert.DoesNotContain("RunUntilStoppedAsync", leak.Message);
        var stopped = run["OwnFrameworkTests.Work_stopped_in_Dispose_is_reported"];
        Assert.Equal("Failed", stopped.Outcome);
        Assert.Contains("LeakyWork.RunUntilStoppedAsync", stopped.Message);
        var note = "XunitV2OwnFrameworkFixture runs on NoLeaks.Fixtures.OwnTestFramework, not on NoLeaks' LeakCheckingTestFramework";
        Assert.Equal(1, Occurrences(run.Console, note));
        Assert.Contains("derive that framework from NoLeaks.Xunit.Sdk.LeakCheckingTestFramework", run.Console);
    }

    [Fact(Timeout = Timeout)]
    public async Task Xunit_v2_framework_runs_no_more_test_collections_at_once_than_xunit_allows()
    {
        // [assembly: CollectionBehavior(MaxParallelThreads = 1)]: each probe fails when another collection runs beside it.
        var run = await AssemblyLevel("V2");

        Assert.All(["A", "B", "C"], probe => Assert.Equal(("Passed", ""), (run[$"ParallelLimitTests{probe}.Runs_alone"].Outcome, run[$"ParallelLimitTests{probe}.Runs_alone"].Message)));
    }

    [Fact(Timeout = Timeout)]
    public async Task Xunit_v2_tests_a_test_case_type_of_its_own_runs_unchecked_are_counted_once_at_the_end()
    {
        var run = await AssemblyLevel("V2");

        // The runner leaves the attributes out: its leaking test passes, and the run says that it was not checked.
        Assert.Equal("Passed", run["OwnRunnerTests.Test_run_by_a_runner_that_skips_the_attributes"].Outcome);
        Assert.Equal("Skipped", run["OwnRunnerTests.Skipped_test_of_that_runner"].Outcome);
        Assert.Equal("Passed", run["OwnRunnerTests.Allowed_test_of_that_runner"].Outcome);
        var line = Assert.Single(run.StandardError.Split('\n'), text => text.Contains("ran without a leak check", StringComparison.Ordinal)).TrimEnd();
        Assert.Equal(
            "NoLeaks warning: 1 test ran without a leak check: NoLeaks.Fixtures.OwnRunnerTestCase runs its tests without xunit's "
            + "before/after-test attributes, through which NoLeaks checks the tests of test case types it does not run itself "
            + "([AllowTaskLeaks] on them takes them out of this count).",
            line);
    }

    private static Task<FixtureRun> Checked(string xunit) => FixtureRun.Of($"Xunit{xunit}Fixture");

    private static Task<FixtureRun> AssemblyLevel(string xunit) => FixtureRun.Of($"Xunit{xunit}AssemblyLevelFixture");

    private static void AssertLeakReported(FixtureTest test, string method, string awaitMarker)
    {
        Assert.Equal("Failed", test.Outcome);
        var site = $"LeakyWork.{method}  suspended at {LeakyWorkSource()}:{AwaitLine(awaitMarker)}";
        Assert.Contains("NoLeaks: 1 leaked async operation from", test.Message);
        Assert.Contains(site, test.Message);
        Assert.Contains(site, test.Output);
    }

    // Everything the run says about a test: failure message, output and (xunit v3) warnings.
    private static string Said(FixtureTest test) => string.Join('\n', [test.Message, test.Output, .. test.Warnings]).Trim();

    private static int Occurrences(string text, string part) => text.Split(part).Length - 1;

    private static int AwaitLine(string marker) => SourceLine.Of(marker, LeakyWorkSource());

    private static string LeakyWorkSource([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "Shared", "LeakyWork.cs"));
}
