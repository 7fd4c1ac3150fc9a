using NoLeaks.Xunit;

namespace NoLeaks.Fixtures;

// Settings across levels and bad settings, under the assembly's [NoTaskLeaks] (AssemblyLevelTests.cs), which
// ignores LeakyWork.AssemblyIgnoredAsync.

[NoTaskLeaks(GracePeriodMilliseconds = 50, Action = LeakAction.Warn, IgnoreAsyncMethods = ["NoLeaks.Fixtures.LeakyWork.ClassIgnoredAsync"])]
public sealed class SettingsLevelTests
{
    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50, IgnoreAsyncMethods = ["NoLeaks.Fixtures.LeakyWork.MethodIgnoredAsync"])]
    public void Ignore_lists_of_all_levels_add_up()
    {
        _ = LeakyWork.AssemblyIgnoredAsync();
        _ = LeakyWork.ClassIgnoredAsync();
        _ = LeakyWork.MethodIgnoredAsync();
    }

    // The class says Warn, the method's attribute Fail (its default): the closest level's value is used.
    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Scalar_settings_come_from_the_closest_level() => _ = LeakyWork.MethodLevelAsync();
}

public sealed class BadSettingsTests
{
    [Fact, NoTaskLeaks(GracePeriodMilliseconds = -5, IgnoreAsyncMethods = ["", " "])]
    public void Bad_settings_are_named_in_the_output()
    {
    }

    [Fact, AllowTaskLeaks(" ")]
    public void Opt_out_without_a_reason_is_named_in_the_output()
    {
    }

    // Without the cap the check would wait for int.MaxValue ms before its first report; the work ends after 100 ms.
    [Fact, NoTaskLeaks(GracePeriodMilliseconds = int.MaxValue)]
    public void Grace_period_beyond_the_longest_is_cut_with_a_warning() => _ = LeakyWork.FinishesSoonAsync();

    [Fact(Timeout = 2_000), NoTaskLeaks(GracePeriodMilliseconds = int.MaxValue)]
    public async Task Grace_period_ends_with_the_test_s_time_limit()
    {
        await Task.Yield();
        _ = LeakyWork.TimeLimitAsync();
    }
}
