using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>Settings across levels, under the assembly's [NoTaskLeaks], which ignores WaitAssemblyIgnoredAsync.</summary>
[NoTaskLeaks(GracePeriodMilliseconds = 50, Action = LeakAction.Warn, IgnoreAsyncMethods = new[] { "*.SettingsLevelTests.WaitFixtureIgnoredAsync" })]
public class SettingsLevelTests
{
    [Test, NoTaskLeaks(GracePeriodMilliseconds = 50, IgnoreAsyncMethods = new[] { "*.SettingsLevelTests.WaitMethodIgnoredAsync" })]
    public void Ignore_lists_of_all_levels_add_up()
    {
        _ = WaitAssemblyIgnoredAsync();
        _ = WaitFixtureIgnoredAsync();
        _ = WaitMethodIgnoredAsync();
    }

    // The fixture says Warn, the method's attribute Fail (its default): the closest level's value is used.
    [Test, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Scalar_settings_come_from_the_closest_level() => _ = WaitClosestAsync();

    private static async Task WaitAssemblyIgnoredAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitFixtureIgnoredAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitMethodIgnoredAsync() => await new TaskCompletionSource().Task;

    private static async Task WaitClosestAsync() => await new TaskCompletionSource().Task; // @settings-closest
}

/// <summary>Bad settings and grace periods longer than they may be.</summary>
public class BadSettingsTests
{
    [Test, NoTaskLeaks(GracePeriodMilliseconds = -5, IgnoreAsyncMethods = new[] { "", " " })]
    public void Bad_settings_are_named_in_the_output()
    {
    }

    [Test, AllowTaskLeaks(" ")]
    public void Opt_out_without_a_reason_is_named_in_the_output()
    {
    }

    // Without the cap the check would wait for int.MaxValue ms before its first report; the work ends after 100 ms.
    [Test, NoTaskLeaks(GracePeriodMilliseconds = int.MaxValue)]
    public void Grace_period_beyond_the_longest_is_cut_with_a_warning() => _ = FinishesSoonAsync();

    [Test, CancelAfter(2_000), NoTaskLeaks(GracePeriodMilliseconds = int.MaxValue)]
    public async Task Grace_period_ends_with_CancelAfter(CancellationToken token)
    {
        await Task.Yield();
        _ = WaitPastCancelAfterAsync();
    }

    [Test, Timeout(2_000), NoTaskLeaks(GracePeriodMilliseconds = int.MaxValue)]
    public void Grace_period_ends_with_Timeout() => _ = WaitPastTimeoutAsync();

    private static async Task FinishesSoonAsync() => await Task.Delay(100);

    // Held by a static, so that the work is not stuck for good and the grace period is waited (until the time limit).
    private static readonly TaskCompletionSource Never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static async Task WaitPastCancelAfterAsync() => await Never.Task; // @settings-cancel-after

    private static async Task WaitPastTimeoutAsync() => await Never.Task; // @settings-timeout
}
