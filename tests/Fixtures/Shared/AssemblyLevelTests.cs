using NoLeaks.Xunit;

[assembly: NoTaskLeaks(GracePeriodMilliseconds = 50, IgnoreAsyncMethods = ["NoLeaks.Fixtures.LeakyWork.AssemblyIgnoredAsync"])]
#if XUNIT_V3
[assembly: AssemblyFixture(typeof(NoLeaks.Fixtures.AssemblyBackgroundWork))]
#endif

namespace NoLeaks.Fixtures;

public sealed class AssemblyLevelTests
{
    [Fact]
    public void Leak_in_assembly_level_test_fails() => _ = LeakyWork.AssemblyLevelAsync();

    [Fact]
    public void Clean_assembly_level_test_passes()
    {
    }

    [Fact, AllowTaskLeaks("the fixture allows it")]
    public void Allowed_leak_passes() => _ = LeakyWork.AllowedAsync();
}

[NoTaskLeaks(GracePeriodMilliseconds = 50, IgnoreAsyncMethods = ["NoLeaks.Fixtures.LeakyWork.UncheckedAsync"])]
public sealed class ClassOverAssemblyTests
{
    [Fact]
    public void Class_level_settings_win_over_assembly_level() => _ = LeakyWork.UncheckedAsync();

    [Fact, NoTaskLeaks(GracePeriodMilliseconds = 50)]
    public void Test_marked_at_three_levels_is_checked_once() => _ = LeakyWork.MethodLevelAsync();
}
