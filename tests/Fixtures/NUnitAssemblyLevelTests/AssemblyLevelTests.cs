using NUnit.Framework;

[assembly: NoLeaks.NUnit.NoTaskLeaks(GracePeriodMilliseconds = 100, IgnoreAsyncMethods = new[] { "*.SettingsLevelTests.WaitAssemblyIgnoredAsync" })]

namespace NoLeaks.NUnit.Fixtures;

/// <summary>[assembly: NoTaskLeaks] checks every test of the assembly.</summary>
public class AssemblyLevelTests
{
    [Test]
    public void Leak_in_body() => _ = WaitInBodyAsync();

    [Test]
    public async Task Clean_test() => await Task.Delay(1);

    [Test, AllowTaskLeaks("the test is about the opt-out")]
    public void Allowed_leak() => _ = WaitAllowedAsync();

    private static async Task WaitInBodyAsync() => await new TaskCompletionSource().Task; // @assembly-body

    private static async Task WaitAllowedAsync() => await new TaskCompletionSource().Task;
}

/// <summary>A fixture-level opt-out beats the assembly-level check.</summary>
[AllowTaskLeaks("legacy fixture")]
public class OptedOutFixtureTests
{
    [Test]
    public void Leak_in_opted_out_fixture() => _ = WaitOptedOutAsync();

    private static async Task WaitOptedOutAsync() => await new TaskCompletionSource().Task;
}

/// <summary>Fixture-level settings beat the assembly's.</summary>
[NoTaskLeaks(IgnoreAsyncMethods = new[] { "*.FixtureSettingsTests.WaitIgnoredAsync" })]
public class FixtureSettingsTests
{
    [Test]
    public void Leak_ignored_by_the_fixture() => _ = WaitIgnoredAsync();

    private static async Task WaitIgnoredAsync() => await new TaskCompletionSource().Task;
}
