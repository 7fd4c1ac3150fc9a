using System.Reflection;
using System.Reflection.Emit;
using NoLeaks.Policy;
using NoLeaks.Sdk;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Policy;

public sealed class LeakSuiteTests
{
    private const int TestTimeout = 30_000;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public void Suite_defaults_are_the_base_of_a_checked_test_s_options()
    {
        var plan = LeakCheckPlan.For(null, null, [new Settings()], LeakSuite.Read(typeof(WarnSuite)));

        var options = Assert.IsType<NoLeaksOptions>(plan.Options);
        Assert.Equal(TimeSpan.FromMilliseconds(1_500), options.GracePeriod);
        Assert.Equal(LeakAction.Warn, options.Action);
        Assert.True(options.CaptureCreationStacks);
        Assert.True(options.CountDormantContinuations);
        Assert.Equal(["Ignore.AsyncMethod(\"Shop.Suite.*\")"], options.Ignore.Select(filter => filter.Description));
        Assert.Empty(plan.Warnings);
    }

    [Fact]
    public void Settings_made_on_an_attribute_win_over_the_suite_s_defaults()
    {
        var plan = LeakCheckPlan.For(
            [new Settings { GracePeriodMilliseconds = 50, ActionIfSet = LeakAction.Fail, CaptureCreationStacksIfSet = false }],
            null,
            null,
            LeakSuite.Read(typeof(WarnSuite)));

        var options = Assert.IsType<NoLeaksOptions>(plan.Options);
        Assert.Equal(TimeSpan.FromMilliseconds(50), options.GracePeriod);
        Assert.Equal(LeakAction.Fail, options.Action);
        Assert.False(options.CaptureCreationStacks);
        Assert.True(options.CountDormantContinuations);
    }

    [Fact]
    public void Ignore_lists_of_the_suite_and_of_every_level_add_up()
    {
        var plan = LeakCheckPlan.For(
            [new Settings { IgnoreAsyncMethods = ["Shop.Method"] }],
            null,
            [new Settings { IgnoreAsyncMethods = ["Shop.Assembly"] }],
            LeakSuite.Read(typeof(WarnSuite)));

        var options = Assert.IsType<NoLeaksOptions>(plan.Options);
        Assert.Equal(
            ["Ignore.AsyncMethod(\"Shop.Suite.*\")", "Ignore.AsyncMethod(\"Shop.Method\")", "Ignore.AsyncMethod(\"Shop.Assembly\")"],
            options.Ignore.Select(filter => filter.Description));
    }

    [Theory]
    [InlineData(LeakAction.Fail, LeakAction.Warn)] // the attribute's default: left to the suite
    [InlineData(LeakAction.Off, LeakAction.Off)]
    public void Settings_that_cannot_tell_an_unset_action_leave_Fail_to_the_suite(LeakAction onAttribute, LeakAction expected)
    {
        var plan = LeakCheckPlan.For([new OlderSettings { Action = onAttribute }], null, null, LeakSuite.Read(typeof(WarnSuite)));

        Assert.Equal(expected, plan.Options!.Action);
        Assert.True(plan.Options.CaptureCreationStacks);
    }

    [Fact]
    public void Tests_not_marked_for_a_check_stay_unchecked_with_a_suite()
    {
        var plan = LeakCheckPlan.For(null, null, null, LeakSuite.Read(typeof(WarnSuite)));

        Assert.False(plan.IsChecked);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_suite_filter_allows_the_leak_it_does_not_count_and_sees_the_whole_leak()
    {
        var seen = new List<string>();
        SuiteFilterSuite.Filter = new SuiteFilter(leak =>
        {
            seen.Add(string.Join(" <- ", leak.AwaitChain.Select(frame => frame.Method)));
            return !leak.AwaitChain.Any(frame => frame.Method == "LeakSuiteTests.AllowedAsync");
        });
        var suite = LeakSuite.Read(typeof(SuiteFilterSuite));

        var allowed = await LeakAsync(suite, never => OuterAsync(AllowedAsync(never)));
        var counted = await LeakAsync(suite, never => OuterAsync(never));

        Scopes.Clean(allowed);
        Assert.Equal(1, allowed.IgnoredCount);
        Assert.Contains("LeakSuiteTests.AllowedAsync <- LeakSuiteTests.OuterAsync", seen);
        Assert.Equal("LeakSuiteTests.OuterAsync", Scopes.Single(counted).Method);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_suite_filter_that_throws_is_a_warning_and_the_leak_counts()
    {
        SuiteFilterSuite.Filter = new SuiteFilter(_ => throw new InvalidOperationException("no database"));
        var suite = LeakSuite.Read(typeof(SuiteFilterSuite));

        var report = await LeakAsync(suite, never => OuterAsync(never));

        Assert.Equal("LeakSuiteTests.OuterAsync", Scopes.Single(report).Method);
        Assert.Contains(report.Warnings, warning => warning.Contains(
            $"the filter {typeof(SuiteFilter).FullName} threw InvalidOperationException (no database)", StringComparison.Ordinal));
    }

    [Fact]
    public void Sinks_receive_every_report_and_one_that_throws_is_named_once_while_the_others_go_on()
    {
        var warnings = new List<string>();
        var suite = LeakSuite.Read(typeof(SinkSuite), warnings.Add);
        var first = Report("Shop.OrderTests.Saves_order");
        var second = Report("Shop.OrderTests.Cancels_order");

        suite.Deliver(first);
        suite.Deliver(second);

        Assert.Equal([first, second], SinkSuite.Received.Received);
        Assert.Equal(2, SinkSuite.Throwing.Calls);
        var warning = Assert.Single(warnings);
        Assert.StartsWith($"NoLeaks warning: the report sink {typeof(ThrowingSink).FullName} threw IOException (disk full) on the report of Shop.OrderTests.Saves_order", warning);
        Assert.DoesNotContain('\n', warning);
    }

    [Theory]
    [InlineData(typeof(NoParameterlessConstructor), "could not be created (MissingMethodException: ")]
    [InlineData(typeof(ThrowingConstructor), "could not be created (InvalidOperationException: no settings file); it needs a public parameterless constructor that does not throw. The defaults were used.")]
    [InlineData(typeof(ThrowingConfigure), "threw InvalidOperationException in Configure (half done); the defaults were used.")]
    [InlineData(typeof(NotAConfiguration), "does not implement ILeakSuiteConfiguration (or derive from NoLeaksServiceConfiguration); the defaults were used.")]
    public void A_configuration_that_fails_is_named_in_every_checked_test_s_report_and_the_defaults_are_used(Type configuration, string expected)
    {
        var plan = LeakCheckPlan.For(null, [new Settings { IgnoreAsyncMethods = [""] }], null, LeakSuite.Read(configuration));

        var options = Assert.IsType<NoLeaksOptions>(plan.Options);
        Assert.Equal(TimeSpan.FromSeconds(1), options.GracePeriod);
        Assert.Equal(LeakAction.Fail, options.Action);
        Assert.Empty(options.Ignore);
        Assert.Equal(2, plan.Warnings.Count);
        Assert.StartsWith($"the suite configuration {configuration.FullName} ", plan.Warnings[0]);
        Assert.Contains(expected, plan.Warnings[0]);
        Assert.Contains("holds an empty pattern", plan.Warnings[1]);
        Assert.Equal(plan.Warnings, options.SettingWarnings);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task The_configuration_of_a_test_assembly_is_read_once_however_many_threads_ask_first()
    {
        var assembly = AssemblyBuilder.DefineDynamicAssembly(
            new AssemblyName("NoLeaks.Tests.SuiteOnce"),
            AssemblyBuilderAccess.Run,
            [new CustomAttributeBuilder(typeof(NoLeaksConfigurationAttribute).GetConstructor([typeof(Type)])!, [typeof(CountingSuite)])]);
        using var start = new Barrier(8);

        var suites = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(
            () =>
            {
                start.SignalAndWait(Cancel);
                return LeakSuite.Of(assembly);
            },
            Cancel)));

        Assert.Equal(1, CountingSuite.Configured);
        Assert.All(suites, suite => Assert.Same(suites[0], suite));
        Assert.Equal(TimeSpan.FromMilliseconds(250), suites[0].NewOptions().GracePeriod);
        Assert.Same(LeakSuite.None, LeakSuite.Of(typeof(LeakSuiteTests).Assembly));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_the_configuration_starts_belongs_to_no_test()
    {
        var assembly = AssemblyBuilder.DefineDynamicAssembly(
            new AssemblyName("NoLeaks.Tests.SuiteWithWork"),
            AssemblyBuilderAccess.Run,
            [new CustomAttributeBuilder(typeof(NoLeaksConfigurationAttribute).GetConstructor([typeof(Type)])!, [typeof(SuiteStartingWork)])]);
        var scope = LeakScope.Begin("first test", Scopes.Options(TimeSpan.Zero));

        var suite = LeakSuite.Of(assembly);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        SuiteStartingWork.Stop.TrySetResult();

        Assert.Empty(suite.Warnings);
        Assert.True(SuiteStartingWork.Started.Task.IsCompleted);
        Scopes.Clean(report);
    }

    private static async Task<LeakReport> LeakAsync(LeakSuite suite, Func<Task, Task> leak)
    {
        var plan = LeakCheckPlan.For(null, null, [new Settings { GracePeriodMilliseconds = 0 }], suite);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = LeakScope.Begin("suite", plan.Options);
        _ = leak(never.Task);
        var report = await scope.EndAsync(cancellationToken: Cancel);
        never.SetResult();
        return report;
    }

    private static async Task AllowedAsync(Task never) => await never;

    private static async Task OuterAsync(Task never) => await never;

    private static LeakReport Report(string test) => new(test, [], [], LeakAction.Fail, TimeSpan.Zero, 0);

    private sealed class WarnSuite : ILeakSuiteConfiguration
    {
        public void Configure(LeakSuiteBuilder suite)
        {
            suite.Defaults.GracePeriod = TimeSpan.FromMilliseconds(1_500);
            suite.Defaults.Action = LeakAction.Warn;
            suite.Defaults.CaptureCreationStacks = true;
            suite.Defaults.CountDormantContinuations = true;
            suite.Defaults.Ignore.Add(Ignore.AsyncMethod("Shop.Suite.*"));
        }
    }

    private sealed class SuiteFilterSuite : ILeakSuiteConfiguration
    {
        public static ILeakFilter? Filter { get; set; }

        public void Configure(LeakSuiteBuilder suite) => suite.Filters.Add(Filter!);
    }

    private sealed class SuiteFilter(Func<TaskLeak, bool> counts) : ILeakFilter
    {
        public bool Counts(TaskLeak leak) => counts(leak);
    }

    private sealed class SinkSuite : ILeakSuiteConfiguration
    {
        public static readonly ThrowingSink Throwing = new();
        public static readonly RecordingSink Received = new();

        public void Configure(LeakSuiteBuilder suite)
        {
            suite.Sinks.Add(Throwing);
            suite.Sinks.Add(Received);
        }
    }

    private sealed class RecordingSink : ILeakReportSink
    {
        public List<LeakReport> Received { get; } = [];

        public void Receive(LeakReport report) => Received.Add(report);
    }

    private sealed class ThrowingSink : ILeakReportSink
    {
        public int Calls { get; private set; }

        public void Receive(LeakReport report)
        {
            Calls++;
            throw new IOException("disk\nfull");
        }
    }

    private sealed class CountingSuite : ILeakSuiteConfiguration
    {
        private static int s_configured;

        public static int Configured => s_configured;

        public void Configure(LeakSuiteBuilder suite)
        {
            Interlocked.Increment(ref s_configured);
            Thread.Sleep(50); // widens the window in which other threads ask for the same suite
            suite.Defaults.GracePeriod = TimeSpan.FromMilliseconds(250);
        }
    }

    private sealed class SuiteStartingWork : ILeakSuiteConfiguration
    {
        public static readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public static readonly TaskCompletionSource Stop = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Configure(LeakSuiteBuilder suite) => _ = RunUntilStoppedAsync();

        // Like a sink's flush loop: runs for the whole process.
        private static async Task RunUntilStoppedAsync()
        {
            Started.TrySetResult();
            await Stop.Task;
        }
    }

    private sealed class NoParameterlessConstructor(int grace) : ILeakSuiteConfiguration
    {
        public void Configure(LeakSuiteBuilder suite) => suite.Defaults.GracePeriod = TimeSpan.FromMilliseconds(grace);
    }

    private sealed class ThrowingConstructor : ILeakSuiteConfiguration
    {
        public ThrowingConstructor() => throw new InvalidOperationException("no settings file");

        public void Configure(LeakSuiteBuilder suite)
        {
        }
    }

    private sealed class ThrowingConfigure : ILeakSuiteConfiguration
    {
        public void Configure(LeakSuiteBuilder suite)
        {
            suite.Defaults.Action = LeakAction.Off;
            suite.Defaults.Ignore.Add(Ignore.AsyncMethod("Shop.*"));
            throw new InvalidOperationException("half done");
        }
    }

    private sealed class NotAConfiguration;

    private sealed class Settings : ILeakCheckSettings
    {
        public int GracePeriodMilliseconds { get; init; } = -1;

        public string[]? IgnoreAsyncMethods { get; init; }

        public LeakAction Action => ActionIfSet ?? LeakAction.Fail;

        public bool CaptureCreationStacks => CaptureCreationStacksIfSet ?? false;

        public LeakAction? ActionIfSet { get; init; }

        public bool? CaptureCreationStacksIfSet { get; init; }
    }

    // An implementation written before ActionIfSet existed.
    private sealed class OlderSettings : ILeakCheckSettings
    {
        public int GracePeriodMilliseconds => -1;

        public string[]? IgnoreAsyncMethods => null;

        public LeakAction Action { get; init; }

        public bool CaptureCreationStacks => false;
    }
}
