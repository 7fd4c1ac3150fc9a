using System.Globalization;
using NoLeaks.NUnit.Tests.Support;
using NoLeaks.Tests.Support;

namespace NoLeaks.NUnit.Tests;

/// <summary>
/// End to end: NUnit fixture programs built against NUnit 4.4 and 5.0 (tests/Fixtures) run in a child process, and
/// each test's outcome, message and output are checked.
/// </summary>
public sealed class NoTaskLeaksAttributeTests
{
    private const int Timeout = 120_000;
    private const string MethodLevel = "NUnitLeakTests/MethodLevelTests.cs";
    private const string FixtureLevel = "NUnitLeakTests/FixtureLevelTests.cs";
    private const string Parallel = "NUnitLeakTests/ParallelTests.cs";
    private const string AssemblyLevel = "NUnitAssemblyLevelTests/AssemblyLevelTests.cs";
    private const string Settings = "NUnitAssemblyLevelTests/SettingsTests.cs";
    private const string RealSuite = "NUnitLeakTests/RealSuiteTests.cs";
    private const string Ownership = "NUnitAssemblyLevelTests/FixtureOwnershipTests.cs";

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture", "nunit.framework 4.")]
    [InlineData("NUnit5Fixture", "nunit.framework 5.")]
    public async Task Fixture_runs_on_the_NUnit_it_was_built_against(string fixture, string version)
    {
        var run = await FixtureRun.Of(fixture);

        Assert.Contains(version, run["FrameworkVersionTests.NUnit_version"].Output);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Leak_in_method_level_test_fails_with_the_await_line(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertLeak(run["MethodLevelTests.Leak_in_body"], "MethodLevelTests.WaitInBodyAsync", MethodLevel, "method-body");
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Leak_in_SetUp_fails_a_method_level_test_with_the_await_line(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertLeak(run["MethodLevelSetUpTests.Leak_from_setup"], "MethodLevelSetUpTests.WaitFromSetUpAsync", MethodLevel, "method-setup");
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Method_level_check_runs_after_TearDown(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["MethodLevelTearDownTests.Work_stopped_in_teardown"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Test_without_the_attribute_at_any_level_is_not_checked(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["MethodLevelTests.Leak_without_attribute"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Leak_in_fixture_level_test_fails_with_the_await_line(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertLeak(run["FixtureLevelTests.Leak_in_body"], "FixtureLevelTests.WaitInBodyAsync", FixtureLevel, "fixture-body");
        AssertLeak(run["FixtureLevelTests.Leak_after_an_await_in_an_async_test"], "FixtureLevelTests.WaitInTaskRunAsync", FixtureLevel, "fixture-task-run");
        AssertPassedWithoutReport(run["FixtureLevelTests.Clean_test"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Each_test_is_checked_once_and_the_closest_level_wins(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        var twoLevels = run["FixtureLevelTests.Leak_with_attributes_at_two_levels"];
        AssertLeak(twoLevels, "FixtureLevelTests.WaitAtTwoLevelsAsync", FixtureLevel, "fixture-two-levels");
        Assert.Single(Occurrences("leaked async operation", twoLevels.Output));
        Assert.Contains("grace period of 0.05 s", twoLevels.Message); // the method's setting, not the fixture's 0.10 s
        AssertPassedWithoutReport(run["FixtureLevelTests.Method_level_settings_win"]);
        AssertPassedWithoutReport(run["MethodLevelTests.Leak_ignored_by_pattern"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Fixture_that_stops_its_work_in_TearDown_passes(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["FixtureLevelTearDownTests.Work_stopped_in_teardown"]);
        AssertPassedWithoutReport(run["FixtureLevelTearDownTests.Async_work_stopped_in_teardown"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Test_that_fails_on_its_own_and_leaks_keeps_its_failure_and_adds_the_leak(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        var throws = run["FixtureLevelTests.Test_that_throws_and_leaks"];
        AssertLeak(throws, "FixtureLevelTests.WaitBeforeThrowingAsync", FixtureLevel, "fixture-throws");
        Assert.Contains("InvalidOperationException : the test's own failure", throws.Message);

        var asserts = run["FixtureLevelTests.Test_that_fails_an_assertion_and_leaks"];
        AssertLeak(asserts, "FixtureLevelTests.WaitBeforeAssertingAsync", FixtureLevel, "fixture-assert");
        Assert.Contains("the test's own assertion", asserts.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Work_started_in_OneTimeSetUp_belongs_to_the_fixture_not_to_its_tests(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["OneTimeSetUpTests.First_test"]);
        AssertPassedWithoutReport(run["OneTimeSetUpTests.Second_test"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Check_runs_after_Dispose_with_an_instance_per_test_case(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["InstancePerTestCaseTests.Work_stopped_in_dispose"]);
        AssertLeak(run["InstancePerTestCaseTests.Work_not_stopped_in_dispose"], "InstancePerTestCaseTests.PumpUntilDisposedAsync", FixtureLevel, "per-test-dispose");
    }

    // NUnit builds a per-test instance in the test's own execution context before any action runs: the work its
    // constructor starts is handed to the test's check.
    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Work_started_in_a_per_test_constructor_belongs_to_that_test(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertLeak(run["PerTestCaseTests.Leak_from_the_constructor"], "PerTestCaseTests.WaitFromConstructorAsync", RealSuite, "per-test-case-constructor");
        AssertPassedWithoutReport(run["PerTestCaseTests.Work_of_the_constructor_stopped_in_Dispose"]);
    }

    [Fact(Timeout = Timeout)]
    public async Task Work_queued_behind_a_starved_thread_pool_is_waited_for_and_the_test_passes()
    {
        // Alone in a process of its own: the fixture test caps the thread pool and starves it for 3 s.
        var run = await FixtureRun.RunAsync(
            "NUnit4Fixture",
            action: null,
            new Dictionary<string, string> { ["NOLEAKS_FIXTURE_STARVE"] = "1" },
            ["--class", "NoLeaks.NUnit.Fixtures.StarvedPoolTests"]);
        var test = run["StarvedPoolTests.Work_queued_behind_a_starved_pool_passes_once_it_has_run"];

        Assert.Equal("Passed", test.Outcome);
        Assert.Contains("the thread pool was starved when the grace period ended", test.Output);
        Assert.Contains("the check waited", test.Output);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task A_test_that_ends_ignored_or_inconclusive_is_not_checked_nor_counted(string fixture)
    {
        // Seen on a real suite: the summary said "6 of 2,109 tests" where the runner ran 2,108, one test having ended
        // with Assert.Ignore. The runner counts such a test as skipped; so does the summary, and it is not failed.
        var run = await FixtureRun.RunAsync(fixture, action: null, environment: null, ["--class", "NoLeaks.NUnit.Fixtures.EndedSkippedTests"]);

        Assert.Equal("Skipped", run["EndedSkippedTests.Ignored_at_run_time"].Outcome);
        Assert.Equal("Inconclusive", run["EndedSkippedTests.Inconclusive_at_run_time"].Outcome);
        var ignoredAfterWork = run["EndedSkippedTests.Ignored_after_starting_work"];
        Assert.Equal("Skipped", ignoredAfterWork.Outcome);
        Assert.DoesNotContain("NoLeaks", ignoredAfterWork.Output);
        AssertLeak(run["EndedSkippedTests.Leak_in_body"], "EndedSkippedTests.WaitAsync", "NUnitLeakTests/EndedSkippedTests.cs", "ended-skipped-wait");
        Assert.Contains("NoLeaks: 1 of 2 tests left async work behind", run.StandardError);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("", "ManualResetEventSlim.Wait() at BlockedThreadTests.cs:{0} (its thread is blocked)")]
    [InlineData("0", "nothing: its delegate is still running")]
    public async Task A_delegate_blocked_on_its_thread_is_named_by_its_blocking_call_unless_turned_off(string stacks, string waitingOn)
    {
        // Unasked (""), the default: the report reads the thread's stack.
        var run = await FixtureRun.RunAsync(
            "NUnit4Fixture",
            action: null,
            new Dictionary<string, string> { ["NOLEAKS_FIXTURE_BLOCKED"] = "1", ["NOLEAKS_THREAD_STACKS"] = stacks },
            ["--class", "NoLeaks.NUnit.Fixtures.BlockedThreadTests"]);
        var test = run["BlockedThreadTests.Delegate_blocked_on_its_thread"];

        Assert.Equal("Failed", test.Outcome);
        Assert.Contains("delegate task, running", test.Message);
        var line = SourceLine.Of("nunit-blocked", FixtureRun.SourceOf("NUnitLeakTests/BlockedThreadTests.cs"));
        Assert.Contains($"waiting on  {string.Format(CultureInfo.InvariantCulture, waitingOn, line)}", test.Message);
        Assert.DoesNotContain("NoLeaks warning", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Dormant_tripwire_passes_and_a_continuation_on_a_timer_fails(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["RealSuiteTests.Tripwire_on_a_promise_nobody_completes"]);
        var timer = run["RealSuiteTests.Continuation_on_a_timer_that_will_fire"];
        Assert.Equal("Failed", timer.Outcome);
        Assert.Contains($"ContinueWith continuation, not started, defined at {AwaitLine(RealSuite, "nunit-timer-continuation")}", timer.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Work_nothing_can_reach_fails_at_once_as_never_resuming(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        var test = run["RealSuiteTests.Await_on_a_completion_source_nobody_holds"];
        Assert.Equal("Failed", test.Outcome);
        Assert.Contains($"RealSuiteTests.OrphanedAsync  suspended at {AwaitLine(RealSuite, "nunit-orphaned")}", test.Message);
        Assert.Contains("verdict     can never resume", test.Message);
        Assert.Contains("reported at once, without waiting the grace period of 30.00 s", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Two_lambdas_of_one_method_are_two_entries_and_a_continuation_continues(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        var lambdas = run["RealSuiteTests.Two_lambdas_on_two_lines"].Message;
        Assert.Contains("NoLeaks: 2 leaked async operations from", lambdas);
        Assert.Contains($"(lambda)  suspended at {AwaitLine(RealSuite, "nunit-lambda-one")}", lambdas);
        Assert.Contains($"(lambda)  suspended at {AwaitLine(RealSuite, "nunit-lambda-two")}", lambdas);
        var continued = run["RealSuiteTests.Continuation_of_a_leaked_method"].Message;
        Assert.Contains($"RealSuiteTests.ContinuedAsync  suspended at {AwaitLine(RealSuite, "nunit-continued")}", continued);
        Assert.Contains("continued by  RealSuiteTests.Continuation_of_a_leaked_method (lambda) (ContinueWith)", continued);
        Assert.DoesNotContain("awaited by", continued);
        AssertPassedWithoutReport(run["RealSuiteTests.Leak_allowed_by_the_name_its_report_shows"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task A_leak_says_which_static_holds_it(string fixture)
    {
        // With a budget a loaded machine cannot exhaust.
        var test = (await FixtureRun.WithSearch(fixture, "RealSuiteTests", FixtureProcess.AmpleSearchBudget))["RealSuiteTests.Continuation_of_a_leaked_method"];

        Assert.Equal("Failed", test.Outcome);
        Assert.DoesNotContain("NoLeaks warning", test.Message);

        FixtureProcess.AssertHeldByStatic(test.Message, "RealSuiteTests.Never");

        // The fixture's whole run, with NOLEAKS_RETENTION_BUDGET_MS=0 (FixtureProcess): no search.
        Assert.DoesNotContain("held by", (await FixtureRun.Of(fixture))["RealSuiteTests.Continuation_of_a_leaked_method"].Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Only_the_leaking_case_of_TestCase_Values_and_TestCaseSource_fails(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertLeak(run["MethodLevelTests.Test_case(1)"], "MethodLevelTests.WaitInTestCaseAsync", MethodLevel, "method-test-case");
        AssertPassedWithoutReport(run["MethodLevelTests.Test_case(2)"]);
        AssertLeak(run["MethodLevelTests.Values_test(2)"], "MethodLevelTests.WaitInValuesTestAsync", MethodLevel, "method-values");
        AssertPassedWithoutReport(run["MethodLevelTests.Values_test(1)"]);
        AssertLeak(run["MethodLevelTests.Source_test(1)"], "MethodLevelTests.WaitInSourceTestAsync", MethodLevel, "method-source");
        AssertPassedWithoutReport(run["MethodLevelTests.Source_test(2)"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Repeat_Retry_CancelAfter_and_Warn_keep_their_meaning(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["FixtureLevelTests.Repeated_clean_test"]);
        AssertPassedWithoutReport(run["FixtureLevelTests.Retried_clean_test"]);
        AssertPassedWithoutReport(run["FixtureLevelTests.Clean_test_with_cancel_after"]);
        Assert.Equal("Warning", run["FixtureLevelTests.Warning_of_its_own"].Outcome);
    }

    [Fact(Timeout = Timeout)]
    public async Task Leak_in_a_test_with_Timeout_fails_with_the_await_line_on_NUnit_4()
    {
        var run = await FixtureRun.Of("NUnit4Fixture");

        AssertLeak(run["FixtureLevelTests.Leak_in_test_with_timeout"], "FixtureLevelTests.WaitWithTimeoutAsync", FixtureLevel, "fixture-timeout");
    }

    // NUnit 5 dropped [Timeout] on .NET: the test fails with NUnit's own message, untouched by the adapter.
    [Fact(Timeout = Timeout)]
    public async Task Test_with_Timeout_keeps_NUnit_5s_own_failure()
    {
        var run = await FixtureRun.Of("NUnit5Fixture");

        var result = run["FixtureLevelTests.Leak_in_test_with_timeout"];
        Assert.Equal("Failed", result.Outcome);
        Assert.Contains("doesn't support timeout", result.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task Parallel_tests_each_see_only_their_own_work(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        var leaks = new[] { ("Leak_a", "WaitAAsync", "parallel-a"), ("Leak_b", "WaitBAsync", "parallel-b"), ("Leak_c", "WaitCAsync", "parallel-c") };
        foreach (var (test, method, marker) in leaks)
        {
            var result = run["ParallelTests." + test];
            AssertLeak(result, "ParallelTests." + method, Parallel, marker);
            Assert.Contains("1 leaked async operation", result.Message);
            Assert.All(leaks.Where(other => other.Item2 != method), other => Assert.DoesNotContain(other.Item2, result.Message));
        }

        AssertPassedWithoutReport(run["ParallelTests.Clean_1"]);
        AssertPassedWithoutReport(run["ParallelTests.Clean_2"]);
        AssertPassedWithoutReport(run["ParallelTests.Clean_3"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task AllowTaskLeaks_and_ignored_tests_are_not_checked(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["MethodLevelTests.Allowed_leak"]);
        AssertPassedWithoutReport(run["FixtureLevelTests.Allowed_leak"]);
        Assert.Equal("Skipped", run["MethodLevelTests.Ignored_test"].Outcome);
        Assert.Equal("ignored on purpose", run["MethodLevelTests.Ignored_test"].Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task NOLEAKS_ACTION_warn_keeps_the_test_passed_and_prints_a_console_line(string fixture)
    {
        var run = await FixtureRun.Of(fixture, "warn");

        // An NUnit warning would make the test Warning, which runners show as skipped: the test stays Passed.
        var leak = run["FixtureLevelTests.Leak_in_body"];
        Assert.Equal("Passed", leak.Outcome);
        Assert.Empty(leak.Warnings);
        Assert.Contains(AwaitLine(FixtureLevel, "fixture-body"), leak.Output);
        Assert.Contains("This is a warning only", leak.Output);
        var line = Assert.Single(run.StandardError.Split('\n'), line => line.StartsWith($"NoLeaks warning: {leak.Name} left ", StringComparison.Ordinal));
        Assert.EndsWith(
            $"left 1 async operation behind, first FixtureLevelTests.WaitInBodyAsync at tests/Fixtures/{FixtureLevel}:{SourceLine.Of("fixture-body", FixtureRun.SourceOf(FixtureLevel))} (the test keeps its result)",
            line.TrimEnd('\r'));

        // One line per warned test: exactly the tests whose output holds a warn-mode report.
        var warned = run.Tests.Where(test => test.Output.Contains("This is a warning only", StringComparison.Ordinal)).Select(test => test.Name).Order();
        var lines = run.StandardError.Split('\n').Where(l => l.StartsWith("NoLeaks warning: ", StringComparison.Ordinal))
            .Select(l => l["NoLeaks warning: ".Length..l.LastIndexOf(" left ", l.IndexOf(" async operation", StringComparison.Ordinal), StringComparison.Ordinal)]);
        Assert.Equal(warned, lines.Order());
        Assert.Contains($"NoLeaks: {warned.Count()} of ", run.StandardError);
        var throws = run["FixtureLevelTests.Test_that_throws_and_leaks"];
        Assert.Equal("Failed", throws.Outcome);
        Assert.Contains("the test's own failure", throws.Message);
        AssertPassedWithoutReport(run["FixtureLevelTests.Clean_test"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4Fixture")]
    [InlineData("NUnit5Fixture")]
    public async Task NOLEAKS_ACTION_off_disables_the_check(string fixture)
    {
        var run = await FixtureRun.Of(fixture, "off");

        AssertPassedWithoutReport(run["FixtureLevelTests.Leak_in_body"]);
        AssertPassedWithoutReport(run["MethodLevelTests.Leak_in_body"]);
        Assert.DoesNotContain(run.Tests, test => test.Output.Contains("leaked async operation", StringComparison.Ordinal));

        // Nothing checked, nothing tracked: the test that asserts the runtime's tracking is off passed (and, checked,
        // it finds tracking on).
        const string Switch = "MethodLevelTests.Runtime_task_tracking_is_on_only_when_tests_are_checked";
        Assert.Equal("Passed", run[Switch].Outcome);
        Assert.Equal("Passed", (await FixtureRun.Of(fixture))[Switch].Outcome);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Leak_in_assembly_level_test_fails_with_the_await_line(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertLeak(run["AssemblyLevelTests.Leak_in_body"], "AssemblyLevelTests.WaitInBodyAsync", AssemblyLevel, "assembly-body");
        AssertPassedWithoutReport(run["AssemblyLevelTests.Clean_test"]);
        AssertPassedWithoutReport(run["AssemblyLevelTests.Allowed_leak"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Fixture_level_opt_out_and_settings_beat_the_assembly_level(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["OptedOutFixtureTests.Leak_in_opted_out_fixture"]);
        AssertPassedWithoutReport(run["FixtureSettingsTests.Leak_ignored_by_the_fixture"]);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Work_a_fixture_starts_on_first_use_is_the_fixture_s_and_checked_after_its_teardown(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["LazyServiceTests.First_use"]);
        AssertPassedWithoutReport(run["LazyServiceTests.Second_use"]);
        AssertLeak(run["LazyServiceTests.Leak_of_its_own_beside_the_service"], "LazyServiceTests.BesideTheServiceAsync", Ownership, "assembly-beside-the-service");
        Assert.DoesNotContain("LoopAsync", run["LazyServiceTests.Leak_of_its_own_beside_the_service"].Message);
        AssertPassedWithoutReport(run["ForgetfulServiceTests.Starts_a_service_its_fixture_never_stops"]);

        var teardown = Assert.Single(run.Tests, test => test.Name.EndsWith(" [teardown]", StringComparison.Ordinal));
        Assert.Equal("Failed", teardown.Outcome);
        Assert.Contains("NoLeaks: 1 leaked async operation from fixture ForgetfulServiceTests", teardown.Message);
        Assert.Contains($"LazyService.LoopAsync  suspended at {AwaitLine(Ownership, "assembly-lazy-loop")}", teardown.Message);
        Assert.Contains("created by  test NoLeaks.NUnit.Fixtures.ForgetfulServiceTests.Starts_a_service_its_fixture_never_stops", teardown.Message);
        Assert.DoesNotContain("LazyServiceTests", teardown.Message);

        // The run's summary on standard error counts it like a test's leak, at its repository-relative await site.
        var site = $"tests/Fixtures/{Ownership}:{SourceLine.Of("assembly-lazy-loop", FixtureRun.SourceOf(Ownership))}";
        Assert.Contains($"{site}  LazyService.LoopAsync, suspended", run.StandardError);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Ignore_lists_add_up_over_the_levels_and_other_settings_come_from_the_closest(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        AssertPassedWithoutReport(run["SettingsLevelTests.Ignore_lists_of_all_levels_add_up"]);
        AssertLeak(run["SettingsLevelTests.Scalar_settings_come_from_the_closest_level"], "SettingsLevelTests.WaitClosestAsync", Settings, "settings-closest");
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Bad_settings_are_named_in_the_test_s_output(string fixture)
    {
        var run = await FixtureRun.Of(fixture);

        var bad = run["BadSettingsTests.Bad_settings_are_named_in_the_output"];
        Assert.Equal("Passed", bad.Outcome);
        Assert.Contains("NoLeaks: [NoTaskLeaks(GracePeriodMilliseconds = -5)] is negative", bad.Output);
        Assert.Equal(2, Occurrences("holds an empty pattern", bad.Output).Count());
        var optOut = run["BadSettingsTests.Opt_out_without_a_reason_is_named_in_the_output"];
        Assert.Equal("Passed", optOut.Outcome);
        Assert.Single(Occurrences("NoLeaks warning: [AllowTaskLeaks] on the test method gives no reason", optOut.Output));
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Grace_period_beyond_60_s_is_cut_with_a_warning_that_survives_the_wait(string fixture)
    {
        var test = (await FixtureRun.Of(fixture))["BadSettingsTests.Grace_period_beyond_the_longest_is_cut_with_a_warning"];

        Assert.Equal("Passed", test.Outcome);
        Assert.Contains("is longer than the longest allowed (60 s); 60 s was used.", test.Output);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Grace_period_ends_with_the_test_s_CancelAfter(string fixture)
    {
        var test = (await FixtureRun.WithSearch(fixture, "BadSettingsTests"))["BadSettingsTests.Grace_period_ends_with_CancelAfter"];

        AssertLeak(test, "BadSettingsTests.WaitPastCancelAfterAsync", Settings, "settings-cancel-after");
        // A 2 s limit leaves a grace period of 2 s less a quarter, less what the test itself took (under load, on a
        // runtime that JIT-compiles the fixture's code first, that can be more than half a second).
        Assert.InRange(ReportText.GracePeriodSeconds(test.Message ?? "") ?? -1, 0.0, 1.5);
        // Nothing is left after the grace period for a search of the heap (its budget is cut to the room left).
        Assert.DoesNotContain("held by", test.Message);
    }

    [Fact(Timeout = Timeout)]
    public async Task Grace_period_ends_with_the_test_s_Timeout_on_NUnit_4()
    {
        var test = (await FixtureRun.WithSearch("NUnit4AssemblyLevelFixture", "BadSettingsTests"))["BadSettingsTests.Grace_period_ends_with_Timeout"];

        AssertLeak(test, "BadSettingsTests.WaitPastTimeoutAsync", Settings, "settings-timeout");
        // A 2 s limit leaves a grace period of 2 s less a quarter, less what the test itself took (under load, on a
        // runtime that JIT-compiles the fixture's code first, that can be more than half a second).
        Assert.InRange(ReportText.GracePeriodSeconds(test.Message ?? "") ?? -1, 0.0, 1.5);
        // Nothing is left after the grace period for a search of the heap (its budget is cut to the room left).
        Assert.DoesNotContain("held by", test.Message);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("NUnit4AssemblyLevelFixture")]
    [InlineData("NUnit5AssemblyLevelFixture")]
    public async Task Unknown_NOLEAKS_ACTION_is_named_in_a_report_made_after_the_grace_period(string fixture)
    {
        var test = (await FixtureRun.Of(fixture, "bogus"))["AssemblyLevelTests.Leak_in_body"];

        AssertLeak(test, "AssemblyLevelTests.WaitInBodyAsync", AssemblyLevel, "assembly-body");
        Assert.Contains("NoLeaks warning: NOLEAKS_ACTION=\"bogus\" is not fail, warn or off; it was ignored.", test.Message);
    }

    private static void AssertLeak(FixtureTestResult result, string method, string file, string marker)
    {
        Assert.True(result.Outcome == "Failed", $"{result.Name} should have failed but was {result.Outcome}: {result.Message}");
        Assert.Contains(method, result.Message);
        Assert.Contains($"suspended at {AwaitLine(file, marker)}", result.Message);
        Assert.Contains($"suspended at {AwaitLine(file, marker)}", result.Output);
    }

    private static void AssertPassedWithoutReport(FixtureTestResult result)
    {
        Assert.True(result.Outcome == "Passed", $"{result.Name} should have passed but was {result.Outcome}: {result.Message}");
        Assert.DoesNotContain("NoLeaks", result.Output);
    }

    private static string AwaitLine(string file, string marker) => SourceLine.At(marker, FixtureRun.SourceOf(file));

    private static IEnumerable<int> Occurrences(string text, string within)
    {
        for (var at = within.IndexOf(text, StringComparison.Ordinal); at >= 0; at = within.IndexOf(text, at + 1, StringComparison.Ordinal))
        {
            yield return at;
        }
    }
}
