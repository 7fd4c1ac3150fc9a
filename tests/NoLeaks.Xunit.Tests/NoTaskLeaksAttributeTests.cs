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
            "RealSuiteTests.Continuation_of_a_leaked_method_says_it_continues",
            "RealSuiteTests.Continuation_on_a_timer_that_will_fire_fails",
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
        Assert.Contains($"LeakyWork.OwnFailureAsync  suspended at LeakyWork.cs:{AwaitLine("own-failure-await")}", test.Output);
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
        var warning = xunit == "V3" ? Assert.Single(test.Warnings) : test.Output;
        Assert.Contains($"LeakyWork.ClassLevelAsync  suspended at LeakyWork.cs:{AwaitLine("class-level-await")}", warning);
    }

    [Theory(Timeout = Timeout)]
    [InlineData("V2")]
    [InlineData("V3")]
    public async Task Off_mode_checks_nothing(string xunit)
    {
        var run = await FixtureRun.Of($"Xunit{xunit}Fixture", action: "off");

        Assert.Equal(["MethodLevelTests.Test_that_throws_and_leaks_keeps_its_own_failure"], run.Failed);
        Assert.DoesNotContain(run.Tests, test => test.Output.Contains("NoLeaks", StringComparison.Ordinal));
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

    private static Task<FixtureRun> Checked(string xunit) => FixtureRun.Of($"Xunit{xunit}Fixture");

    private static Task<FixtureRun> AssemblyLevel(string xunit) => FixtureRun.Of($"Xunit{xunit}AssemblyLevelFixture");

    private static void AssertLeakReported(FixtureTest test, string method, string awaitMarker)
    {
        Assert.Equal("Failed", test.Outcome);
        var site = $"LeakyWork.{method}  suspended at LeakyWork.cs:{AwaitLine(awaitMarker)}";
        Assert.Contains("NoLeaks: 1 leaked async operation from", test.Message);
        Assert.Contains(site, test.Message);
        Assert.Contains(site, test.Output);
    }

    private static int AwaitLine(string marker) => SourceLine.Of(marker, LeakyWorkSource());

    private static string LeakyWorkSource([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "Shared", "LeakyWork.cs"));
}
